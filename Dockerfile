# countersign's image: a build stage compiles TypeScript and drops the
# devDependencies; the runtime is Node 24 slim with dist/src, bin and the
# production dependencies only, running as a non-root user.
#
#   docker build -t countersign:0.1.0 .
#   docker run --rm -p 8443:8443 -v "$PWD/certs:/etc/countersign/certs:ro" countersign:0.1.0
#
# The default config (examples/docker/countersign.yaml) reads certificates
# from /etc/countersign/certs; mount your own config over
# /etc/countersign/countersign.yaml, and a volume at /var/lib/countersign for
# ACME storage.
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY src/ src/
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --no-audit --no-fund \
 && find dist/src -name '*.map' -delete

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /opt/countersign
RUN groupadd --system --gid 10001 countersign \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/countersign --no-create-home --shell /usr/sbin/nologin countersign \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/countersign \
 && ln -s /opt/countersign/bin/countersign.js /usr/local/bin/countersign
COPY --from=build /build/package.json ./
COPY --from=build /build/node_modules/ node_modules/
COPY --from=build /build/dist/src/ dist/src/
COPY bin/ bin/
COPY examples/docker/countersign.yaml /etc/countersign/countersign.yaml
USER 10001:10001
EXPOSE 8443
# the admin listener (admin: { listen: 127.0.0.1:9901 } in the config) answers
# /readyz with 200 once the proxy serves; slim has no curl, Node's fetch does it
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9901/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["countersign"]
CMD ["start", "--config", "/etc/countersign/countersign.yaml"]
