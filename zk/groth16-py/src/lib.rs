//! `ccnet_groth16`, the Python extension module of the native Groth16 verifier
//! (`ccnet-groth16`): `ccnet.zk.NativeVerifier` calls it with the byte encoding of
//! `ccnet.zk.encoding`. The pairing check runs without the GIL.

use pyo3::{exceptions::PyValueError, prelude::*};

/// A verification key (alpha || beta || gamma || delta || IC, 448 + 64 k bytes),
/// checked and prepared once. Raises ValueError naming what is wrong with the bytes.
#[pyclass(frozen, module = "ccnet_groth16")]
struct VerifyingKey(ccnet_groth16::VerifyingKey);

#[pymethods]
impl VerifyingKey {
	#[new]
	fn new(data: &[u8]) -> PyResult<Self> {
		ccnet_groth16::VerifyingKey::from_bytes(data)
			.map(Self)
			.map_err(|e| PyValueError::new_err(format!("verification key: {}", e.name())))
	}

	/// The number of public signals of a proof under this key.
	#[getter]
	fn public_inputs(&self) -> usize {
		self.0.public_inputs()
	}

	/// Why `proof` (256 bytes) for `inputs` (32 bytes per signal) is refused, or None
	/// when it verifies: "Invalid" (the pairing check fails), or a decoding error
	/// ("Length", "NonCanonicalCoordinate", "NotOnCurve", "NotInSubgroup",
	/// "InputOutOfRange", "InputCount").
	fn rejection(&self, py: Python<'_>, proof: &[u8], inputs: &[u8]) -> Option<&'static str> {
		py.detach(|| self.0.verify(proof, inputs))
			.err()
			.map(ccnet_groth16::Error::name)
	}
}

#[pymodule]
#[pyo3(name = "ccnet_groth16")]
fn ccnet_groth16_module(module: &Bound<'_, PyModule>) -> PyResult<()> {
	module.add_class::<VerifyingKey>()
}
