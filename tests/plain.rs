// plain.rs: an ordinary Rust program, for moves (tests/ordinary.sh builds it
// with rustc when there is one).  Every 100 ms it takes one step and prints
// "step N"; with an argument it exits 0 after that many.  Each step grows a
// Vec of boxed buffers (the heap), checks all it kept, and reads Instant,
// which must not go back.  Anything wrong: "plain-rust: ..." and exit 1.
use std::time::{Duration, Instant};
use std::{env, process, thread};

fn wrong(what: String) -> ! {
    eprintln!("plain-rust: {}", what);
    process::exit(1);
}

fn main() {
    let steps: i64 = env::args().nth(1).map_or(-1, |s| s.parse().unwrap_or(-1));
    let mut kept: Vec<Box<[u8; 1000]>> = Vec::new();
    let mut last = Instant::now();
    let mut step: i64 = 1;
    while steps < 0 || step <= steps {
        let now = Instant::now();
        if now < last {
            wrong(format!("Instant went back at step {}", step));
        }
        last = now;
        for _ in 0..64 {
            kept.push(Box::new([(step % 251) as u8; 1000]));
        }
        for (i, b) in kept.iter().enumerate() {
            if b[999] != ((i as i64 / 64 + 1) % 251) as u8 {
                wrong(format!("kept buffer {} changed", i));
            }
        }
        println!("step {}", step);
        thread::sleep(Duration::from_millis(100));
        step += 1;
    }
}
