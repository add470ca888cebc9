// Fold the per-workgroup partials of one iteration: residual into the history, dangling
// mass into the next teleport coefficient coef = d·dangling + (1 − d). One workgroup.

struct RParams {
    count: u32,
    damping: f32,
    pad0: u32,
    pad1: u32,
};

@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> scal: array<f32>;
@group(0) @binding(2) var<storage, read_write> hist: array<f32>;
@group(0) @binding(3) var<storage, read_write> counter: array<u32>;
@group(0) @binding(4) var<uniform> R: RParams;

var<workgroup> sa: array<f32, 256>;
var<workgroup> sb: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    // Compensated (Kahan) sums: a thread folds thousands of partials on a big graph, and a
    // plain f32 sum of the dangling mass drifts by ~1e-5 there, above the usual ε.
    var a = 0.0;
    var b = 0.0;
    var ca = 0.0;
    var cb = 0.0;
    for (var k = lid; k < R.count; k = k + 256u) {
        let ya = partials[2u * k] - ca;
        let ta = a + ya;
        ca = (ta - a) - ya;
        a = ta;
        let yb = partials[2u * k + 1u] - cb;
        let tb = b + yb;
        cb = (tb - b) - yb;
        b = tb;
    }
    sa[lid] = a;
    sb[lid] = b;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s / 2u) {
        if (lid < s) {
            sa[lid] = sa[lid] + sa[lid + s];
            sb[lid] = sb[lid] + sb[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        scal[0] = R.damping * sb[0] + (1.0 - R.damping);
        let t = counter[0];
        hist[t] = sa[0];
        counter[0] = t + 1u;
    }
}
