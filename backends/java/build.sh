#!/bin/sh
# Builds the library with the JDK alone (17+): javac and jar, no Maven/Gradle.
#   ./build.sh [OUT]        -> OUT/countersign-backend.jar, and OUT/test/ with the example server
#                              and the tests (default OUT=build)
#   ./build.sh [OUT] test   -> also runs the golden-vector tests (test/vectors/ at the repository root)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/build"}
rm -rf "$out/classes" "$out/test"
mkdir -p "$out/classes" "$out/test"
javac --release 17 -Xlint:all -Werror -d "$out/classes" $(find "$here/src/main/java" -name '*.java')
jar --create --file "$out/countersign-backend.jar" -C "$out/classes" .
# one javac for the example and the tests: each javac start costs seconds on a busy machine
javac --release 17 -d "$out/test" -cp "$out/countersign-backend.jar" "$here/example/ExampleServer.java" $(find "$here/src/test/java" -name '*.java')
if [ "${2:-}" = test ]; then
  java -cp "$out/countersign-backend.jar:$out/test" dev.countersign.backend.VectorsTest "$here/../../test/vectors/delegation-vectors.json"
fi
