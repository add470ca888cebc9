// Exact focus iteration (docs/kernels.md, "Exact focus") in 32-bit words only.
//
// A u64 is a vec2<u32> (low word, high word): the uint64 arrays the host uploads are
// read as array<vec2<u32>> on a little-endian device. hi64(a·b) is built from 16-bit
// partial products; every sum is an integer sum with explicit carries, so the result is
// the same integers as numpy and CUDA compute, whatever the order of the lanes.
//
// One iteration is five dispatches: `source_x` (x_i = hi64(2π_i·R_i)), `gather`
// (y_j = Σ hi64(W'_ij·x_i), z_j = ⌊y_j·δ/2^32⌋, per-workgroup Σz), `fold_z` (Σz, then
// t = ⌊(2^60 − Σz)/n⌋), `finish` (π'_j = z_j + t, per-workgroup Σ|π' − π|) and `fold_r`
// (r into the history; done = r < ε). Once done is set every dispatch returns at once,
// so a group of iterations submitted together stops exactly where the stop rule says.

const WG: u32 = 256u;

struct Params {
    n: u32,
    delta: u32,
    eps_lo: u32,
    eps_hi: u32,
    wg_count: u32,
    grid_x: u32,
    pad0: u32,
    pad1: u32,
};

@group(0) @binding(0) var<storage, read> indptr: array<u32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> wn: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> recip: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> pi: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read_write> xs: array<vec2<u32>>;
@group(0) @binding(6) var<storage, read_write> zs: array<vec2<u32>>;
@group(0) @binding(7) var<storage, read_write> partials: array<vec2<u32>>;
// state: [0,1] Σz, [2,3] t, [4] done, [5] iterations run, [6 + 2k, 7 + 2k] r of iteration k
@group(0) @binding(8) var<storage, read_write> state: array<u32>;
@group(0) @binding(9) var<uniform> P: Params;

var<workgroup> sh: array<vec2<u32>, 256>;
var<workgroup> done_flag: u32;

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn sub64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

fn lt64(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.y < b.y || (a.y == b.y && a.x < b.x);
}

// full 64-bit product of two u32, as (low, high)
fn mul32(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xFFFFu;
    let a1 = a >> 16u;
    let b0 = b & 0xFFFFu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xFFFFu) + (p10 & 0xFFFFu);  // < 3·2^16
    let lo = (mid << 16u) | (p00 & 0xFFFFu);
    let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
    return vec2<u32>(lo, hi);
}

// ⌊a·b / 2^64⌋: the high word of the 128-bit product
fn mulhi64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let ll = mul32(a.x, b.x);
    let lh = mul32(a.x, b.y);
    let hl = mul32(a.y, b.x);
    let hh = mul32(a.y, b.y);
    let mid = add64(add64(vec2<u32>(ll.y, 0u), vec2<u32>(lh.x, 0u)), vec2<u32>(hl.x, 0u));
    return add64(add64(add64(hh, vec2<u32>(lh.y, 0u)), vec2<u32>(hl.y, 0u)), vec2<u32>(mid.y, 0u));
}

// ⌊y·δ / 2^32⌋ = y_hi·δ + ⌊y_lo·δ / 2^32⌋
fn damp(y: vec2<u32>, delta: u32) -> vec2<u32> {
    return add64(mul32(y.y, delta), vec2<u32>(mul32(y.x, delta).y, 0u));
}

// ⌊a / d⌋ for a u64 a and a u32 d > 0 (long division, one bit at a time for the low word)
fn div64by32(a: vec2<u32>, d: u32) -> vec2<u32> {
    let qh = a.y / d;
    var r = a.y % d;  // < d < 2^31 (n fits i32): r·2 + 1 never wraps
    var ql = 0u;
    for (var i = 31i; i >= 0i; i = i - 1i) {
        r = (r << 1u) | ((a.x >> u32(i)) & 1u);
        ql = ql << 1u;
        if (r >= d) {
            r = r - d;
            ql = ql | 1u;
        }
    }
    return vec2<u32>(ql, qh);
}

fn row_of(lid: u32, wid: vec3<u32>) -> u32 {
    return (wid.y * P.grid_x + wid.x) * WG + lid;
}

fn is_done(lid: u32) -> bool {
    if (lid == 0u) {
        done_flag = state[4];
    }
    return workgroupUniformLoad(&done_flag) != 0u;
}

// Tree sum of sh[0..256) into sh[0].
fn reduce_shared(lid: u32) {
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            sh[lid] = add64(sh[lid], sh[lid + s]);
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn source_x(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    if (is_done(lid)) {
        return;
    }
    let i = row_of(lid, wid);
    if (i < P.n) {
        let p = pi[i];
        let twice = vec2<u32>(p.x << 1u, (p.y << 1u) | (p.x >> 31u));
        xs[i] = mulhi64(twice, recip[i]);
    }
}

@compute @workgroup_size(256)
fn gather(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    if (is_done(lid)) {
        return;
    }
    let j = row_of(lid, wid);
    var z = vec2<u32>(0u, 0u);
    if (j < P.n) {
        var acc = vec2<u32>(0u, 0u);
        let end = indptr[j + 1u];
        for (var k = indptr[j]; k < end; k = k + 1u) {
            acc = add64(acc, mulhi64(wn[k], xs[indices[k]]));
        }
        z = damp(acc, P.delta);
        zs[j] = z;
    }
    sh[lid] = z;
    workgroupBarrier();
    reduce_shared(lid);
    let wg = wid.y * P.grid_x + wid.x;
    if (lid == 0u && wg < P.wg_count) {  // a 2-D grid may hold a few extra workgroups
        partials[wg] = sh[0];
    }
}

fn fold_partials(lid: u32) {
    var acc = vec2<u32>(0u, 0u);
    for (var k = lid; k < P.wg_count; k = k + WG) {
        acc = add64(acc, partials[k]);
    }
    sh[lid] = acc;
    workgroupBarrier();
    reduce_shared(lid);
}

@compute @workgroup_size(256)
fn fold_z(@builtin(local_invocation_index) lid: u32) {
    if (is_done(lid)) {
        return;
    }
    fold_partials(lid);
    if (lid == 0u) {
        let total = sh[0];
        let left = sub64(vec2<u32>(0u, 1u << 28u), total);  // 2^60 − Σz
        let t = div64by32(left, P.n);
        state[0] = total.x;
        state[1] = total.y;
        state[2] = t.x;
        state[3] = t.y;
    }
}

@compute @workgroup_size(256)
fn finish(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    if (is_done(lid)) {
        return;
    }
    let j = row_of(lid, wid);
    var r = vec2<u32>(0u, 0u);
    if (j < P.n) {
        let t = vec2<u32>(state[2], state[3]);
        let next = add64(zs[j], t);
        let old = pi[j];
        r = select(sub64(old, next), sub64(next, old), lt64(old, next));
        pi[j] = next;
    }
    sh[lid] = r;
    workgroupBarrier();
    reduce_shared(lid);
    let wg = wid.y * P.grid_x + wid.x;
    if (lid == 0u && wg < P.wg_count) {  // a 2-D grid may hold a few extra workgroups
        partials[wg] = sh[0];
    }
}

@compute @workgroup_size(256)
fn fold_r(@builtin(local_invocation_index) lid: u32) {
    if (is_done(lid)) {
        return;
    }
    fold_partials(lid);
    if (lid == 0u) {
        let r = sh[0];
        let k = state[5];
        state[6u + 2u * k] = r.x;
        state[7u + 2u * k] = r.y;
        state[5] = k + 1u;
        if (lt64(r, vec2<u32>(P.eps_lo, P.eps_hi))) {
            state[4] = 1u;
        }
    }
}
