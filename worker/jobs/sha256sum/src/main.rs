//! SHA-256 of stdin: prints the digest as 64 lowercase hex digits and a newline.
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
	if std::env::args().len() != 1 {
		eprintln!("usage: sha256sum < FILE");
		return ExitCode::from(2);
	}
	let mut hasher = Sha256::new();
	let mut stdin = std::io::stdin().lock();
	let mut buf = vec![0u8; 1 << 16];
	loop {
		match stdin.read(&mut buf) {
			Ok(0) => break,
			Ok(n) => {
				hasher.update(&buf[..n]);
				// The worker keeps the stdin position of a checkpointable job.
				ccnet_job_abi::safe_point();
			},
			Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
			Err(e) => {
				eprintln!("sha256sum: read error: {e}");
				return ExitCode::from(1);
			},
		}
	}
	let digest = hasher.finalize();
	let mut hex = String::with_capacity(65);
	for byte in digest {
		hex.push_str(&format!("{byte:02x}"));
	}
	hex.push('\n');
	if std::io::stdout().lock().write_all(hex.as_bytes()).is_err() {
		return ExitCode::from(1);
	}
	ExitCode::SUCCESS
}
