"""TensorFlow's example.proto / feature.proto message classes (generated; see tools/gen_proto.sh).

    >>> from danlu.data.tfrecord.proto import Example
    >>> Example.DESCRIPTOR.full_name
    'tensorflow.Example'
"""

from danlu.data.tfrecord.proto.example_pb2 import Example, SequenceExample
from danlu.data.tfrecord.proto.feature_pb2 import (
    BytesList,
    Feature,
    FeatureList,
    FeatureLists,
    Features,
    FloatList,
    Int64List,
)

__all__ = ["BytesList", "Example", "Feature", "FeatureList", "FeatureLists", "Features", "FloatList",
           "Int64List", "SequenceExample"]
