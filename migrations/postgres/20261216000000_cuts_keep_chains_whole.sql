-- A retention cut that keeps its chain whole (src/storage/chain.rs): the
-- cut moves only over a contiguous run of purged links; the links of purged
-- records after it stay, for their hashes, listed in `cut_holes`, and links
-- an older cut left behind it in `cut_kept`. Both are signed with the cut.
-- NULL: a cut made before, which deleted links out of order.
ALTER TABLE chain_heads ADD COLUMN cut_holes TEXT;
ALTER TABLE chain_heads ADD COLUMN cut_kept TEXT;
