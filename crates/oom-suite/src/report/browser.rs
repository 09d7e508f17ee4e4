//! Checking `report.html` in a real browser: headless Chromium renders the page to a PNG and
//! dumps the DOM it built. The PNG must exist, have the window's size and not be blank (many
//! distinct colours, a fair share of non-white pixels); the DOM must hold the expected section
//! headings and SVG charts. Used by the `report_browser` test and `cargo xtask report --browser`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How to get a browser, for skip messages and errors.
pub const INSTALL_HINT: &str = "install the Debian package chromium (`apt-get install chromium`, or run `cargo xtask test` as root on Debian, which installs it), or point TTNN_OOM_CHROMIUM at a Chromium or Chrome binary";

/// The window the page is rendered in.
pub const WINDOW: (u32, u32) = (1400, 3000);

/// What the browser showed.
#[derive(Debug, Clone)]
pub struct Check {
    pub chromium: PathBuf,
    pub screenshot: PathBuf,
    pub width: u32,
    pub height: u32,
    pub distinct_colors: usize,
    /// Share of pixels that are not (near) white.
    pub ink: f64,
    pub svg_elements: usize,
    pub headings_found: Vec<String>,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}×{} px, {} distinct colours, {:.1}% ink, {} SVG charts, {} headings found",
            self.screenshot.display(),
            self.width,
            self.height,
            self.distinct_colors,
            self.ink * 100.0,
            self.svg_elements,
            self.headings_found.len()
        )
    }
}

/// The Chromium binary: `TTNN_OOM_CHROMIUM`, else the first of chromium, chromium-browser,
/// google-chrome, google-chrome-stable on PATH.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TTNN_OOM_CHROMIUM") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A fresh, empty directory (Chromium's profile), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Result<TempDir, String> {
        let base = std::env::temp_dir();
        for i in 0..100u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let p = base.join(format!("ttnn-oom-{tag}-{}-{nanos}-{i}", std::process::id()));
            if std::fs::create_dir(&p).is_ok() {
                return Ok(TempDir(p));
            }
        }
        Err(format!(
            "cannot create a temporary directory in {}",
            base.display()
        ))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn file_url(path: &Path) -> Result<String, String> {
    let abs = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let s = abs.to_string_lossy();
    let mut url = String::from("file://");
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(char::from(b))
            }
            _ => url.push_str(&format!("%{b:02X}")),
        }
    }
    Ok(url)
}

/// Run Chromium headless with the flags that work in containers and CI (no sandbox, no GPU,
/// no network side traffic, a fresh profile), plus `extra`. Returns stdout.
fn run_chromium(chromium: &Path, extra: &[String], url: &str) -> Result<String, String> {
    let profile = TempDir::new("chromium-profile")?;
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.0.display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", chromium.display()))?;
    // Read stdout on a thread so a large DOM cannot fill the pipe and stall the browser.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let start = Instant::now();
    let timeout = Duration::from_secs(120);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not finish within {} s",
                    chromium.display(),
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for {}: {e}", chromium.display())),
        }
    };
    let out = out_thread.join().unwrap_or_default();
    let err = err_thread.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "{} exited with {status}: {}",
            chromium.display(),
            err.lines().rev().take(8).collect::<Vec<_>>().join(" | ")
        ));
    }
    Ok(out)
}

/// Screenshot `html` into `png` at the given window size.
pub fn screenshot(
    chromium: &Path,
    html: &Path,
    png: &Path,
    window: (u32, u32),
) -> Result<(), String> {
    let url = file_url(html)?;
    let png_abs = if png.is_absolute() {
        png.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join(png)
    };
    let _ = std::fs::remove_file(&png_abs);
    run_chromium(
        chromium,
        &[
            format!("--screenshot={}", png_abs.display()),
            format!("--window-size={},{}", window.0, window.1),
        ],
        &url,
    )?;
    if !png_abs.is_file() {
        return Err(format!(
            "Chromium exited successfully but wrote no screenshot at {}",
            png_abs.display()
        ));
    }
    Ok(())
}

/// The DOM Chromium built from `html` (`--dump-dom`).
pub fn dump_dom(chromium: &Path, html: &Path) -> Result<String, String> {
    let url = file_url(html)?;
    run_chromium(chromium, &["--dump-dom".to_string()], &url)
}

/// Width, height, distinct colours and ink share of a PNG.
pub fn png_stats(path: &Path) -> Result<(u32, u32, usize, f64), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("{}: not a PNG: {e}", path.display()))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| format!("{}: image too large", path.display()))?;
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("{}: cannot decode: {e}", path.display()))?;
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => 3,
    };
    let data = &buf[..info.buffer_size()];
    let mut colors: HashSet<u32> = HashSet::new();
    let mut ink = 0usize;
    let mut pixels = 0usize;
    for px in data.chunks_exact(channels) {
        let (r, g, b) = match channels {
            1 | 2 => (px[0], px[0], px[0]),
            _ => (px[0], px[1], px[2]),
        };
        colors.insert(u32::from(r) << 16 | u32::from(g) << 8 | u32::from(b));
        pixels += 1;
        if r < 235 || g < 235 || b < 235 {
            ink += 1;
        }
    }
    Ok((
        info.width,
        info.height,
        colors.len(),
        ink as f64 / pixels.max(1) as f64,
    ))
}

/// Render `html` in Chromium, screenshot it to `png`, and check the page: size, not blank, the
/// expected headings and at least `min_svg` SVG elements in the DOM.
pub fn check(
    chromium: &Path,
    html: &Path,
    png: &Path,
    headings: &[&str],
    min_svg: usize,
) -> Result<Check, String> {
    screenshot(chromium, html, png, WINDOW)?;
    let (width, height, distinct_colors, ink) = png_stats(png)?;
    let mut problems = Vec::new();
    if width != WINDOW.0 || height < 500 {
        problems.push(format!(
            "screenshot is {width}×{height}, expected {}×{}",
            WINDOW.0, WINDOW.1
        ));
    }
    if distinct_colors < 64 {
        problems.push(format!(
            "screenshot looks blank: only {distinct_colors} distinct colours"
        ));
    }
    if ink < 0.02 {
        problems.push(format!(
            "screenshot looks blank: only {:.2}% of pixels are not white",
            ink * 100.0
        ));
    }
    let dom = dump_dom(chromium, html)?;
    let mut found = Vec::new();
    for h in headings {
        if dom.contains(&super::fmt::escape_xml(h)) || dom.contains(h) {
            found.push(h.to_string());
        } else {
            problems.push(format!("the DOM has no heading `{h}`"));
        }
    }
    let svg_elements = dom.matches("<svg").count();
    if svg_elements < min_svg {
        problems.push(format!(
            "the DOM has {svg_elements} <svg> elements, expected at least {min_svg}"
        ));
    }
    for mark in ["<rect", "<text", "<title"] {
        if !dom.contains(mark) {
            problems.push(format!("the DOM has no {mark}> element"));
        }
    }
    if !problems.is_empty() {
        return Err(format!(
            "{} in a browser: {}",
            html.display(),
            problems.join("; ")
        ));
    }
    Ok(Check {
        chromium: chromium.to_path_buf(),
        screenshot: png.to_path_buf(),
        width,
        height,
        distinct_colors,
        ink,
        svg_elements,
        headings_found: found,
    })
}

/// The section headings every report has (see [`super::sections`]).
pub const SECTION_HEADINGS: [&str; 12] = [
    "Executive summary",
    "Critical shapes (> 1 GiB)",
    "Failures by operator",
    "Most problematic shapes",
    "Distribution by memory category",
    "8K impact",
    "Recommendations",
    "Per device",
    "Overhead factors (actual / theoretical)",
    "Device layout of each shape",
    "Failures that are not OOM",
    "Leaks, canaries and suspicious results",
];
