"""bulk: the fast UUID maker gives what uuid.uuid4() gives."""

from __future__ import annotations

import uuid

from g2p_payment_phee.bulk import uuid4_texts


def test_uuid4_texts_are_canonical_random_version_4_uuids() -> None:
    texts = uuid4_texts(2000)
    assert len(set(texts)) == 2000
    for text in texts:
        value = uuid.UUID(text)
        assert str(value) == text
        assert value.version == 4
        assert value.variant == uuid.RFC_4122
    # every bit that is not fixed by the version and variant varies
    ints = [uuid.UUID(t).int for t in texts]
    varying = 0
    for a in ints[:50]:
        for b in ints[50:100]:
            varying |= a ^ b
    fixed = (0xF << 76) | (0x3 << 62)
    assert varying == ((1 << 128) - 1) & ~fixed
