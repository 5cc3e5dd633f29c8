//! Centered clipping (Karimireddy, He, Jaggi 2021): `v ← v + (1/N) Σ clip_τ(x_i − v)`, iterated,
//! starting from the previous round's aggregate (kept in [`ServerState::center`]).

use rayon::prelude::*;

use super::{ServerState, Stream, ceil_sqrt};
use crate::Error;
use crate::fixed::{div_round, sat_i32};

pub(crate) fn centered_clipping(
    s: &mut Stream<'_, '_>,
    st: &mut ServerState,
    tau_q: i128,
    iters: u32,
) -> Result<Vec<i32>, Error> {
    let n = s.n() as i128;
    let p = s.p;
    let mut v = if st.center.len() == p { st.center.clone() } else { vec![0i32; p] };
    let tau_q = tau_q.max(0);
    for _ in 0..iters.max(1) {
        let norms = s.norms_sq(Some(&v))?;
        // factor_i = min(1, τ / ‖x_i − v‖) as (num, den); ceil of the root keeps the clipped norm ≤ τ.
        let factors: Vec<Option<(i128, i128)>> = norms
            .iter()
            .map(|&n2| (n2 > (tau_q * tau_q) as u128).then(|| (tau_q, ceil_sqrt(n2) as i128)))
            .collect();
        let mut next = v.clone();
        let mut buf = Vec::new();
        for (off, len) in s.chunks(s.chunk) {
            s.read_matrix(None, off, len, &mut buf)?;
            let vv = &v[off..off + len];
            let b = &buf;
            let f = &factors;
            next[off..off + len].par_iter_mut().enumerate().for_each(|(j, o)| {
                let c = vv[j] as i128;
                let sum: i128 = f
                    .iter()
                    .enumerate()
                    .map(|(i, fi)| {
                        let dlt = b[i * len + j] as i128 - c;
                        match fi {
                            Some((num, den)) => div_round(dlt * num, *den),
                            None => dlt,
                        }
                    })
                    .sum();
                *o = sat_i32(c + div_round(sum, n));
            });
        }
        v = next;
    }
    st.center = v.clone();
    Ok(v)
}
