/**
 * The ratios as a bar chart (SVG, no dependencies): one group of bars per
 * countersign mode and metric, one bar per peer of that mode's kind, the value
 * countersign ÷ peer, with the 1.0× line. Above the line countersign is faster.
 */
export interface ChartGroup {
  /** e.g. "connection · keep-alive req/s" */
  label: string;
  bars: { peer: string; ratio: number }[];
}

const COLORS = ['#2b6cb0', '#c05621', '#2f855a', '#6b46c1', '#b83280'];
const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function ratioChartSvg(title: string, groups: ChartGroup[]): string {
  const peers = [...new Set(groups.flatMap((g) => g.bars.map((b) => b.peer)))];
  const color = (peer: string) => COLORS[peers.indexOf(peer) % COLORS.length];
  const finite = groups.flatMap((g) => g.bars.map((b) => b.ratio)).filter(Number.isFinite);
  const top = Math.max(1.2, Math.ceil((Math.max(...finite, 1) + 0.1) * 5) / 5);
  const bar = 22, gap = 8, groupGap = 28, left = 60, plotH = 260, topPad = 50, bottomPad = 110;
  const widthOf = (g: ChartGroup) => g.bars.length * (bar + 4) - 4;
  const plotW = groups.reduce((a, g) => a + widthOf(g) + groupGap, groupGap);
  const W = left + plotW + 20;
  const H = topPad + plotH + bottomPad;
  const y = (v: number) => topPad + plotH - (Math.min(v, top) / top) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (let t = 0; t <= top + 1e-9; t += top > 2 ? 0.5 : 0.2) {
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(t)}" y2="${y(t)}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end" fill="#555">${t.toFixed(1)}×</text>`);
  }
  let x = left + groupGap;
  for (const g of groups) {
    g.bars.forEach((b, i) => {
      const bx = x + i * (bar + 4);
      if (Number.isFinite(b.ratio)) {
        out.push(`<rect x="${bx}" y="${y(b.ratio)}" width="${bar}" height="${y(0) - y(b.ratio)}" fill="${color(b.peer)}"><title>${esc(`${g.label} vs ${b.peer}: ${b.ratio.toFixed(2)}×`)}</title></rect>`);
        out.push(`<text x="${bx + bar / 2}" y="${y(b.ratio) - 3}" text-anchor="middle" font-size="9">${b.ratio.toFixed(2)}</text>`);
      }
    });
    const cx = x + widthOf(g) / 2;
    const lines = g.label.split(' · ');
    lines.forEach((l, i) => out.push(`<text x="${cx}" y="${topPad + plotH + 16 + i * 13}" text-anchor="middle"${i === 0 ? ' font-weight="bold"' : ''}>${esc(l)}</text>`));
    x += widthOf(g) + groupGap;
  }
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(1)}" y2="${y(1)}" stroke="#c53030" stroke-width="1.5" stroke-dasharray="6 3"/>`);
  out.push(`<text x="${left + plotW}" y="${y(1) - 4}" text-anchor="end" fill="#c53030">1.0× = as fast as the peer</text>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${topPad}" y2="${y(0)}" stroke="#333"/><line x1="${left}" x2="${left + plotW}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`);
  let lx = left;
  const ly = H - 22;
  for (const peer of peers) {
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${color(peer)}"/><text x="${lx + 14}" y="${ly}">${esc(`countersign ÷ ${peer}`)}</text>`);
    lx += 24 + peer.length * 6.5 + 80;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
