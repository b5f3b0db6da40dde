use leakgate_gate::judge::assess_trend;
use leakgate_gate::testing::{shape, Shape};
use leakgate_scenario::budget::Unit;
const MIB: f64 = 1048576.0;
#[test]
fn explore() {
    let shapes = [
        ("linear", Shape::Linear { per_sample: MIB }),
        ("flat", Shape::Flat),
        ("step", Shape::Step { at: 4, height: 8.0 * MIB }),
        ("saw", Shape::Sawtooth { period: 4, amplitude: 6.0 * MIB }),
        ("cache", Shape::CacheFill { samples: 2, height: 16.0 * MIB }),
    ];
    for n in [6usize, 8, 12, 20] {
        for (name, sh) in shapes {
            let mut hits = 0; let mut sig = 0;
            for seed in 0..1000u64 {
                let v = shape(n, 20.0 * MIB, sh, 0.05, seed);
                let a = assess_trend(&v, Unit::Bytes, 0.05);
                if a.growing { hits += 1 }
                if a.significant { sig += 1 }
            }
            println!("n={n} {name}: growing {hits}/1000 significant {sig}/1000");
        }
    }
}
