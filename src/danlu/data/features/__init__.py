"""Feature columns for PyTorch, with TensorFlow/Keras preprocessing semantics (bucket ids agree with TF).

tf.feature_column is deprecated in favour of Keras preprocessing layers; PyTorch has neither.
Here each column is an ``nn.Module``; categorical columns give ids (``CatIds``), dense columns
give ``(N, d)`` floats, and :class:`FeatureSet` concatenates dense columns into one tensor.

    >>> import numpy as np
    >>> from danlu.data.features import (FeatureSet, Numeric, Bucketized, Vocabulary, HashBucket,
    ...                                  Crossed, Indicator, Embedding)
    >>> data = {"age": np.array([23., 41., 35., 62.]), "job": ["dev", "ops", "dev", "ceo"]}
    >>> fs = FeatureSet([Numeric("age", normalize=True),
    ...                  Indicator(Bucketized("age", num_bins=2)),
    ...                  Embedding(Vocabulary("job"), dim=3),
    ...                  Indicator(Crossed([Bucketized("age", [40.0]), "job"], num_bins=16), "count")])
    >>> fs.adapt(data)
    >>> fs(data).shape
    torch.Size([4, 22])

Hashing uses FarmHash ``Fingerprint64`` (numpy, :mod:`.farmhash`) exactly as TF's
``to_hash_bucket_fast``, and crossing uses ``FingerprintCat64`` as ``tf.sparse.cross_hashed``.
"""

from danlu.data.features.categorical import (
    Bucketized,
    CategoricalColumn,
    Crossed,
    HashBucket,
    Identity,
    Vocabulary,
    Weighted,
)
from danlu.data.features.dense import DenseColumn, Embedding, Indicator, Numeric
from danlu.data.features.farmhash import fingerprint64, fingerprint64_one, fingerprint_cat64
from danlu.data.features.featureset import FeatureSet
from danlu.data.features.hashing import hash_bucket, hashed_cross
from danlu.data.features.ragged import CatIds

__all__ = [
    "Bucketized", "CatIds", "CategoricalColumn", "Crossed", "DenseColumn", "Embedding", "FeatureSet",
    "HashBucket", "Identity", "Indicator", "Numeric", "Vocabulary", "Weighted", "fingerprint64",
    "fingerprint64_one", "fingerprint_cat64", "hash_bucket", "hashed_cross",
]
