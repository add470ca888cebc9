// One fused focus iteration over a bin of rows: gather + teleport + dangling + residual.
//
// Rows (destinations) are binned by in-degree on the host and each bin runs with LANES
// threads per row (1 … 256), so power-law rows do not leave a warp waiting on one long
// row: lanes stride over the row's links (coalesced reads of indices and weights) and
// reduce in workgroup memory. Per workgroup, the residual ‖Δπ‖₁ and the dangling mass
// are reduced and written to `partials`; `reduce.wgsl` folds them into the next
// iteration's teleport coefficient, on the device, so iterations chain without a read.

override LANES: u32 = 1u;
const WG: u32 = 256u;

struct Params {
    row_offset: u32,
    row_count: u32,
    wg_offset: u32,
    wg_count: u32,
    grid_x: u32,
    damping: f32,
    pad0: u32,
    pad1: u32,
};

@group(0) @binding(0) var<storage, read> indptr: array<u32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read> rows: array<u32>;
@group(0) @binding(4) var<storage, read> x_in: array<f32>;
@group(0) @binding(5) var<storage, read> pi_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> pi_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> x_out: array<f32>;
@group(0) @binding(8) var<storage, read> inv_out: array<f32>;
@group(0) @binding(9) var<storage, read> tele: array<f32>;
@group(0) @binding(10) var<storage, read_write> partials: array<f32>;
@group(0) @binding(11) var<storage, read> scal: array<f32>;
@group(0) @binding(12) var<uniform> P: Params;

var<workgroup> sh: array<f32, 256>;
var<workgroup> sh2: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let wg = wid.y * P.grid_x + wid.x;
    let slot = wg * (WG / LANES) + lid / LANES;
    let lane = lid % LANES;
    let valid = slot < P.row_count;
    var acc = 0.0;
    var row = 0u;
    if (valid) {
        row = rows[P.row_offset + slot];
        let end = indptr[row + 1u];
        for (var k = indptr[row] + lane; k < end; k = k + LANES) {
            acc = acc + weights[k] * x_in[indices[k]];
        }
    }
    sh[lid] = acc;
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s = s / 2u) {
        if (lane < s) {
            sh[lid] = sh[lid] + sh[lid + s];
        }
        workgroupBarrier();
    }
    var r = 0.0;
    var dm = 0.0;
    if (valid && lane == 0u) {
        let y = P.damping * sh[lid] + scal[0] * tele[row];
        r = abs(y - pi_in[row]);
        let io = inv_out[row];
        if (io == 0.0) {
            dm = y;
        }
        pi_out[row] = y;
        x_out[row] = y * io;
    }
    workgroupBarrier();
    sh[lid] = r;
    sh2[lid] = dm;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            sh[lid] = sh[lid] + sh[lid + s];
            sh2[lid] = sh2[lid] + sh2[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u && wg < P.wg_count) {
        partials[2u * (P.wg_offset + wg)] = sh[0];
        partials[2u * (P.wg_offset + wg) + 1u] = sh2[0];
    }
}
