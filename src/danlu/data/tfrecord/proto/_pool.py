"""danlu's private protobuf descriptor pool for the ``tensorflow.*`` example messages.

TensorFlow (and the ``tfrecord`` package) register ``tensorflow.Example`` in protobuf's default
pool under their own file names; registering it a second time there fails with "duplicate
symbol". danlu's generated modules (``feature_pb2``, ``example_pb2``) add their descriptors to
this pool instead, so danlu and TensorFlow load side by side with identical full names and wire
format. See tools/gen_proto.sh.
"""

from google.protobuf import descriptor_pool

POOL = descriptor_pool.DescriptorPool()
