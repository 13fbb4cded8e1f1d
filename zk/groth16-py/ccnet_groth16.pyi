"""Types of the ``ccnet_groth16`` extension (zk/groth16-py/src/lib.rs)."""

class VerifyingKey:
    """A Groth16 key (448 + 64 k bytes, EIP-197 layout), checked and prepared once.
    Raises ValueError ("verification key: <reason>") for malformed bytes."""

    def __init__(self, data: bytes) -> None: ...
    @property
    def public_inputs(self) -> int: ...
    def rejection(self, proof: bytes, inputs: bytes) -> str | None:
        """None if the proof (256 bytes) verifies for the inputs (32 bytes each), else
        the reason: "Invalid", "Length", "NonCanonicalCoordinate", "NotOnCurve",
        "NotInSubgroup", "InputOutOfRange" or "InputCount"."""
