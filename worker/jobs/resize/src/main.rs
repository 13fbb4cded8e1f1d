//! Resize an image: PNG or JPEG on stdin, PNG on stdout.
//!
//! Usage: `resize WIDTH HEIGHT [FILTER]`. The image is scaled to fit within
//! WIDTH x HEIGHT, keeping its aspect ratio. FILTER is one of nearest, triangle
//! (default), catmullrom, gaussian, lanczos3. Every step is integer or IEEE float
//! arithmetic without threads or randomness, so the output is the same on every run.
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use std::io::{Read, Write};
use std::process::ExitCode;

const MAX_SIDE: u32 = 16_384;

fn parse_filter(name: &str) -> Option<FilterType> {
	Some(match name {
		"nearest" => FilterType::Nearest,
		"triangle" => FilterType::Triangle,
		"catmullrom" => FilterType::CatmullRom,
		"gaussian" => FilterType::Gaussian,
		"lanczos3" => FilterType::Lanczos3,
		_ => return None,
	})
}

fn parse_side(arg: Option<&String>) -> Option<u32> {
	arg?.parse::<u32>().ok().filter(|&v| (1..=MAX_SIDE).contains(&v))
}

fn run(width: u32, height: u32, filter: FilterType) -> Result<Vec<u8>, String> {
	let mut input = Vec::new();
	std::io::stdin()
		.lock()
		.read_to_end(&mut input)
		.map_err(|e| format!("read error: {e}"))?;
	let img = image::load_from_memory(&input).map_err(|e| format!("decode error: {e}"))?;
	let resized = img.resize(width, height, filter);
	let mut out = Vec::new();
	resized
		.write_with_encoder(PngEncoder::new(&mut out))
		.map_err(|e| format!("encode error: {e}"))?;
	Ok(out)
}

fn main() -> ExitCode {
	let args: Vec<String> = std::env::args().collect();
	let filter = match args.get(3) {
		None => Some(FilterType::Triangle),
		Some(name) => parse_filter(name),
	};
	let (Some(width), Some(height), Some(filter), true) = (
		parse_side(args.get(1)),
		parse_side(args.get(2)),
		filter,
		args.len() <= 4,
	) else {
		eprintln!("usage: resize WIDTH HEIGHT [nearest|triangle|catmullrom|gaussian|lanczos3]");
		return ExitCode::from(2);
	};
	match run(width, height, filter) {
		Ok(png) => {
			if std::io::stdout().lock().write_all(&png).is_err() {
				return ExitCode::from(1);
			}
			ExitCode::SUCCESS
		},
		Err(message) => {
			eprintln!("resize: {message}");
			ExitCode::from(1)
		},
	}
}
