"""Input limits shared by stages whose config modules must not import each other's heavy dependencies
(``sparse_hw.train`` pulls torch; a run or search config is validated before any of it is needed)."""

#: Largest seed: numpy's and scikit-learn's generators take 0 .. 2^32 - 1 (a negative or larger seed was an
#: internal error inside the data split).
MAX_SEED = 2**32 - 1
