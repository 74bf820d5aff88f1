#!/usr/bin/env bash
# Regenerate danlu's tf.train.Example message classes from the committed .proto files.
#
#   tools/gen_proto.sh            (needs grpcio-tools: pip install grpcio-tools)
#
# Runs `python -m grpc_tools.protoc` on src/danlu/data/tfrecord/proto/{feature,example}.proto
# (TensorFlow's definitions: package `tensorflow`, same message names and field numbers), then
# post-processes the generated *_pb2.py in two ways, so that they work everywhere danlu does:
#   1. the descriptors go into danlu's private pool (proto/_pool.py) instead of the default
#      pool: TensorFlow and the `tfrecord` package register their own `tensorflow.Example` in
#      the default pool under another file name, and a second definition there is an error
#      ("duplicate symbol"); a private pool keeps the full names and the wire format identical;
#   2. the gencode's protobuf runtime-version check (`_runtime_version.ValidateProtobufRuntime
#      Version(...)`, protobuf >= 5.26 only) is dropped: the module only uses
#      `AddSerializedFile` and `internal.builder`, present since protobuf 3.20, so it runs with the
#      protobuf that TensorFlow pins as well (pyproject: protobuf>=4.21).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m grpc_tools.protoc -I src --python_out="$tmp" \
  src/danlu/data/tfrecord/proto/feature.proto src/danlu/data/tfrecord/proto/example.proto \
  src/danlu/data/tfrecord/proto/view.proto
for name in feature example view; do
  src="$tmp/danlu/data/tfrecord/proto/${name}_pb2.py"
  dst="src/danlu/data/tfrecord/proto/${name}_pb2.py"
  "$PY" - "$src" "$dst" <<'PYEOF'
import re
import sys

text = open(sys.argv[1]).read()
text = re.sub(r"from google\.protobuf import runtime_version as _runtime_version\n", "", text)
text = re.sub(r"_runtime_version\.ValidateProtobufRuntimeVersion\([^)]*\)\n", "", text)
text = text.replace("_descriptor_pool.Default().AddSerializedFile", "_pool.POOL.AddSerializedFile")
text = text.replace("# @@protoc_insertion_point(imports)",
                    "from danlu.data.tfrecord.proto import _pool\n# @@protoc_insertion_point(imports)")
text = text.replace("# NO CHECKED-IN PROTOBUF GENCODE\n",
                    "# ruff: noqa\n"
                    "# Post-processed by tools/gen_proto.sh (private descriptor pool, no runtime-version check).\n")
assert "_runtime_version" not in text and "_pool.POOL" in text
open(sys.argv[2], "w").write(text)
PYEOF
done
echo "wrote src/danlu/data/tfrecord/proto/{feature,example,view}_pb2.py"
