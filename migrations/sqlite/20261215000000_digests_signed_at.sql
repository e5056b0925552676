-- A mirror of the digests asks for those signed since its last visit
-- (`GET /api/v1/digests?since=`): found by their time, not by reading all.
CREATE INDEX digests_signed_at ON digests (signed_at);
