//! A small line-chart renderer to PNG with no font files: axes, grid, one or more series, and
//! labels drawn with a built-in 3×5 pixel font (digits, `.`, `%` and upper-case letters).

use std::path::Path;

/// One line on the chart.
pub struct Series {
    /// Legend label (upper-cased when drawn).
    pub label: String,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
    /// RGB colour.
    pub color: [u8; 3],
}

const W: usize = 800;
const H: usize = 480;
const LEFT: usize = 70;
const RIGHT: usize = 20;
const TOP: usize = 40;
const BOTTOM: usize = 50;

struct Canvas {
    px: Vec<u8>,
}

impl Canvas {
    fn new() -> Canvas {
        Canvas { px: vec![255; W * H * 3] }
    }
    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < W && (y as usize) < H {
            let i = (y as usize * W + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3], thick: i64) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for s in 0..=steps {
            let x = x0 + (x1 - x0) * s / steps;
            let y = y0 + (y1 - y0) * s / steps;
            for dx in 0..thick {
                for dy in 0..thick {
                    self.set(x + dx, y + dy, c);
                }
            }
        }
    }
    fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: [u8; 3]) {
        let mut cx = x;
        for ch in s.chars() {
            let g = glyph(ch.to_ascii_uppercase());
            for (row, bits) in g.iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) != 0 {
                        for dx in 0..scale {
                            for dy in 0..scale {
                                self.set(cx + col * scale + dx, y + row as i64 * scale + dy, c);
                            }
                        }
                    }
                }
            }
            cx += 4 * scale;
        }
    }
}

/// 3×5 glyphs, one row per entry, high bit = left column.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '%' => [5, 1, 2, 4, 5],
        '-' => [0, 0, 7, 0, 0],
        ':' => [0, 2, 0, 2, 0],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [7, 4, 4, 4, 7],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [7, 4, 5, 5, 7],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 7],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [7, 5, 5, 5, 7],
        'P' => [7, 5, 7, 4, 4],
        'Q' => [7, 5, 5, 7, 1],
        'R' => [7, 5, 6, 5, 5],
        'S' => [7, 4, 7, 1, 7],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        _ => [0, 0, 0, 0, 0],
    }
}

/// Renders `series` as a line chart with the y axis spanning [`y_min`, `y_max`] and writes a PNG.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    y_range: (f64, f64),
    series: &[Series],
) -> eyre::Result<()> {
    let mut cv = Canvas::new();
    let (y_min, y_max) = y_range;
    let x_max = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(1.0f64, f64::max);
    let pw = (W - LEFT - RIGHT) as f64;
    let ph = (H - TOP - BOTTOM) as f64;
    let to_px = |x: f64, y: f64| -> (i64, i64) {
        let fx = LEFT as f64 + x / x_max * pw;
        let fy = TOP as f64 + (1.0 - (y - y_min) / (y_max - y_min).max(1e-12)) * ph;
        (fx.round() as i64, fy.clamp(TOP as f64, (H - BOTTOM) as f64).round() as i64)
    };
    let grey = [220, 220, 220];
    let black = [0, 0, 0];
    for i in 0..=5 {
        let y = y_min + (y_max - y_min) * f64::from(i) / 5.0;
        let (_, py) = to_px(0.0, y);
        cv.line((LEFT as i64, py), ((W - RIGHT) as i64, py), grey, 1);
        cv.text(8, py - 5, &format!("{:.1}", y), 2, black);
    }
    let ticks = x_max.clamp(1.0, 10.0) as i64;
    for i in 0..=ticks {
        let x = x_max * i as f64 / ticks as f64;
        let (px, _) = to_px(x, y_min);
        cv.line((px, TOP as i64), (px, (H - BOTTOM) as i64), grey, 1);
        cv.text(px - 6, (H - BOTTOM + 8) as i64, &format!("{}", x.round() as i64), 2, black);
    }
    cv.line((LEFT as i64, TOP as i64), (LEFT as i64, (H - BOTTOM) as i64), black, 2);
    cv.line(
        (LEFT as i64, (H - BOTTOM) as i64),
        ((W - RIGHT) as i64, (H - BOTTOM) as i64),
        black,
        2,
    );
    cv.text(LEFT as i64, 10, title, 3, black);
    cv.text((W / 2) as i64 - 40, (H - 18) as i64, x_label, 2, black);
    cv.text(8, TOP as i64 - 14, y_label, 2, black);
    for (k, s) in series.iter().enumerate() {
        let mut prev = None;
        for &(x, y) in &s.points {
            let p = to_px(x, y);
            if let Some(q) = prev {
                cv.line(q, p, s.color, 3);
            }
            for dx in -2..=2 {
                for dy in -2..=2 {
                    cv.set(p.0 + dx, p.1 + dy, s.color);
                }
            }
            prev = Some(p);
        }
        let ly = TOP as i64 + 10 + 16 * k as i64;
        cv.line(((W - 220) as i64, ly + 4), ((W - 200) as i64, ly + 4), s.color, 3);
        cv.text((W - 192) as i64, ly, &s.label, 2, black);
    }
    let file = std::fs::File::create(path)?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), W as u32, H as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&cv.px)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_chart_writes_a_decodable_png_of_the_right_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acc.png");
        let s = Series {
            label: "fedavg".into(),
            points: (1..=20).map(|r| (f64::from(r), 90.0 + f64::from(r) * 0.3)).collect(),
            color: [31, 119, 180],
        };
        line_chart(&path, "MNIST accuracy", "round", "acc %", (80.0, 100.0), &[s]).unwrap();
        let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let reader = dec.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (800, 480));
    }
}
