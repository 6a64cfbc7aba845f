// Causal multi-head attention with grouped-query attention (GQA), flash style: scores are formed one tile of
// keys at a time in workgroup memory and never written to a global buffer.
//
// Layouts (row-major f32), HD = head dim (pipeline constant):
//   q, out, dout, dq  [B*Tq, nHeads*HD]       element (b, i, h, d) at ((b*Tq + i)*nHeads + h)*HD + d
//   k, v, dk, dv      [B*kvStride, nKv*HD]    element (b, j, g, d) at ((b*kvStride + j)*nKv + g)*HD + d
//   lse, delta        [B*nHeads*Tq]           element (b, h, i)    at (b*nHeads + h)*Tq + i
// Query head h reads kv head h / (nHeads / nKvHeads) (HF repeat_kv). Query i sits at absolute position
// i + qPosOffset and sees keys j <= i + qPosOffset, j < Tk.
//
// attention_forward         bindings: 1 q, 2 k, 3 v (read), 4 out, 5 lse (rw)
//                           dispatch: [ceil(Tq/BQ), nHeads, B] workgroups of WG
// attention_backward_delta  bindings: 1 dout, 2 out (read), 3 delta (rw; the op passes dq as scratch)
//                           dispatch: grid1d(ceil(B*nHeads*Tq / 256)) workgroups of 256
// attention_backward_dkv    bindings: 1 q, 2 k, 3 v, 4 lse, 5 dout, 6 delta (read), 7 dk, 8 dv (rw)
//                           dispatch: [ceil(Tk/BK), nKvHeads, B] workgroups of WG
// attention_backward_dq     bindings: 1 q, 2 k, 3 v, 4 lse, 5 dout, 6 out (read), 7 dq (rw)
//                           dispatch: [ceil(Tq/BQ), nHeads, B] workgroups of WG
//
// Tiling: a workgroup holds BQ query rows and BK key rows in workgroup memory, rows padded to an odd stride
// HDP so that lanes reading different rows at the same d hit different banks. Each score (r, c) of the BQ x BK
// tile is a dot product split over SPLIT = WG / NS threads (NS = BQ*BK) whose partial sums are added after a
// barrier, so small tiles with large HD still keep every thread busy. Accumulators (out, dq: BQ x HD; dk, dv:
// BK x HD) live in registers: thread t owns row t / (WG/R) and dims t % (WG/R) + a*(WG/R), a < MAX_ACC.
// The op (src/gpu/ops/attention.ts) picks BQ, BK per HD so everything fits 16 KiB of workgroup memory (the
// WebGPU default limit) and MAX_ACC registers; dkv binds 8 storage buffers, the default per-stage maximum.
// WG is 128, not 64 or 256: the largest score tile that fits (16 x 8) has 128 entries, one per thread, and 128
// threads x MAX_ACC = 16 registers exactly cover a 16 x 128 output tile.
// Masked scores get p = 0 explicitly rather than a -inf sentinel (WGSL has no infinity literal).

struct Params {
  B: u32,
  Tq: u32,
  Tk: u32,
  kvStride: u32,
  qPosOffset: u32,
  nHeads: u32,
  nKvHeads: u32,
  scale: f32,
}

override HD: u32 = 64u;
override BQ: u32 = 16u;
override BK: u32 = 8u;
override WG: u32 = 128u;
override HDP: u32 = HD | 1u;
override NS: u32 = BQ * BK;
override SPLIT: u32 = WG / NS;

const MAX_ACC: u32 = 16u;
const NEG_BIG: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> u: Params;

@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> f_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> f_lse: array<f32>;

@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read> out: array<f32>;
@group(0) @binding(6) var<storage, read> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;

@group(0) @binding(1) var<storage, read> d_dout: array<f32>;
@group(0) @binding(2) var<storage, read> d_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_delta: array<f32>;

var<workgroup> qs: array<f32, BQ * HDP>;
var<workgroup> dos: array<f32, BQ * HDP>;
var<workgroup> ks: array<f32, BK * HDP>;
var<workgroup> vs: array<f32, BK * HDP>;
var<workgroup> ps: array<f32, NS>;
var<workgroup> dss: array<f32, NS>;
var<workgroup> part_s: array<f32, WG>;
var<workgroup> part_dp: array<f32, WG>;
var<workgroup> row_a: array<f32, BQ>;
var<workgroup> row_b: array<f32, BQ>;

fn q_index(b: u32, i: u32, h: u32) -> u32 { return ((b * u.Tq + i) * u.nHeads + h) * HD; }
fn kv_index(b: u32, j: u32, g: u32) -> u32 { return ((b * u.kvStride + j) * u.nKvHeads + g) * HD; }
fn row_index(b: u32, h: u32, i: u32) -> u32 { return (b * u.nHeads + h) * u.Tq + i; }
fn visible(i: u32, j: u32) -> bool { return i < u.Tq && j < u.Tk && j <= i + u.qPosOffset; }

@compute @workgroup_size(WG)
fn attention_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let h = wid.y;
  let q0 = wid.x * BQ;
  let g = h / (u.nHeads / u.nKvHeads);
  // Q tile pre-scaled, so the scores need no multiply.
  for (var e = lid; e < BQ * HD; e += WG) {
    let r = e / HD;
    let d = e % HD;
    var x = 0.0;
    if (q0 + r < u.Tq) { x = q[q_index(b, q0 + r, h) + d] * u.scale; }
    qs[r * HDP + d] = x;
  }
  // Keys past the last query's absolute position are masked for every row of this tile: skip them.
  let kEnd = min(u.Tk, min(q0 + BQ, u.Tq) + u.qPosOffset);
  let sc = lid % NS;
  let sr = sc / BK;
  let scol = sc % BK;
  let slice = lid / NS;
  let tpr = WG / BQ;
  let ar = lid / tpr;
  let ac = lid % tpr;
  var m = NEG_BIG; // running max and sum, meaningful in the row-owner threads lid < BQ
  var l = 0.0;
  var acc: array<f32, MAX_ACC>;
  for (var k0 = 0u; k0 < kEnd; k0 += BK) {
    workgroupBarrier(); // the previous tile's reads of ks and ps are done
    for (var e = lid; e < BK * HD; e += WG) {
      let c = e / HD;
      let d = e % HD;
      var x = 0.0;
      if (k0 + c < u.Tk) { x = k[kv_index(b, k0 + c, g) + d]; }
      ks[c * HDP + d] = x;
    }
    workgroupBarrier();
    var s = 0.0;
    for (var d = slice; d < HD; d += SPLIT) { s += qs[sr * HDP + d] * ks[scol * HDP + d]; }
    part_s[lid] = s;
    workgroupBarrier();
    // K is dead once the partial dots are in: V reuses its tile, which keeps HD = 128 inside 16 KiB.
    for (var e = lid; e < BK * HD; e += WG) {
      let c = e / HD;
      let d = e % HD;
      var x = 0.0;
      if (k0 + c < u.Tk) { x = v[kv_index(b, k0 + c, g) + d]; }
      ks[c * HDP + d] = x;
    }
    if (lid < BQ) {
      // Online softmax for row lid: rescale the old sum by exp(m_old - m_new).
      let i = q0 + lid;
      var mx = m;
      for (var c = 0u; c < BK; c++) {
        var sv = 0.0;
        for (var t = 0u; t < SPLIT; t++) { sv += part_s[t * NS + lid * BK + c]; }
        ps[lid * BK + c] = sv;
        if (visible(i, k0 + c)) { mx = max(mx, sv); }
      }
      var sum = 0.0;
      for (var c = 0u; c < BK; c++) {
        var p = 0.0;
        if (visible(i, k0 + c)) { p = exp(ps[lid * BK + c] - mx); }
        ps[lid * BK + c] = p;
        sum += p;
      }
      let alpha = exp(m - mx);
      l = l * alpha + sum;
      m = mx;
      row_a[lid] = alpha;
    }
    workgroupBarrier();
    let alpha = row_a[ar];
    for (var a = 0u; a < MAX_ACC; a++) {
      let d = ac + a * tpr;
      if (d < HD) {
        var x = acc[a] * alpha;
        for (var c = 0u; c < BK; c++) { x += ps[ar * BK + c] * ks[c * HDP + d]; }
        acc[a] = x;
      }
    }
  }
  if (lid < BQ) {
    row_b[lid] = l;
    if (q0 + lid < u.Tq) { f_lse[row_index(b, h, q0 + lid)] = m + log(l); }
  }
  workgroupBarrier();
  let i = q0 + ar;
  if (i < u.Tq) {
    let inv = 1.0 / row_b[ar];
    let base = q_index(b, i, h);
    for (var a = 0u; a < MAX_ACC; a++) {
      let d = ac + a * tpr;
      if (d < HD) { f_out[base + d] = acc[a] * inv; }
    }
  }
}

// delta[b, h, i] = dout_i . out_i for head h: the softmax-backward row term D_i.
@compute @workgroup_size(256)
fn attention_backward_delta(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                            @builtin(local_invocation_id) lid: vec3u) {
  let n = (wid.x + wid.y * nwg.x) * 256u + lid.x;
  if (n >= u.B * u.nHeads * u.Tq) { return; }
  let i = n % u.Tq;
  let h = (n / u.Tq) % u.nHeads;
  let b = n / (u.Tq * u.nHeads);
  let base = q_index(b, i, h);
  var s = 0.0;
  for (var d = 0u; d < HD; d++) { s += d_dout[base + d] * d_out[base + d]; }
  d_delta[n] = s;
}

// One workgroup owns BK keys of kv head g and streams every query tile of every query head in g's group, so
// each dk/dv element has exactly one writer (no float atomics in WGSL) and the group sum is deterministic.
@compute @workgroup_size(WG)
fn attention_backward_dkv(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let g = wid.y;
  let k0 = wid.x * BK;
  let group = u.nHeads / u.nKvHeads;
  for (var e = lid; e < BK * HD; e += WG) {
    let c = e / HD;
    let d = e % HD;
    var xk = 0.0;
    var xv = 0.0;
    if (k0 + c < u.Tk) {
      xk = k[kv_index(b, k0 + c, g) + d];
      xv = v[kv_index(b, k0 + c, g) + d];
    }
    ks[c * HDP + d] = xk;
    vs[c * HDP + d] = xv;
  }
  // Query i sees key j only when i + qPosOffset >= j: query tiles before that are skipped.
  let firstQ = select(0u, k0 - u.qPosOffset, k0 > u.qPosOffset);
  let sc = lid % NS;
  let sr = sc / BK;
  let scol = sc % BK;
  let slice = lid / NS;
  let tpr = WG / BK;
  let ar = lid / tpr;
  let ac = lid % tpr;
  var dk_acc: array<f32, MAX_ACC>;
  var dv_acc: array<f32, MAX_ACC>;
  for (var hg = 0u; hg < group; hg++) {
    let h = g * group + hg;
    for (var q0 = (firstQ / BQ) * BQ; q0 < u.Tq; q0 += BQ) {
      workgroupBarrier(); // the previous tile's reads of qs, dos, ps, dss are done
      for (var e = lid; e < BQ * HD; e += WG) {
        let r = e / HD;
        let d = e % HD;
        var xq = 0.0;
        var xd = 0.0;
        if (q0 + r < u.Tq) {
          xq = q[q_index(b, q0 + r, h) + d];
          xd = dout[q_index(b, q0 + r, h) + d];
        }
        qs[r * HDP + d] = xq;
        dos[r * HDP + d] = xd;
      }
      if (lid < BQ) {
        var xl = 0.0;
        var xd = 0.0;
        if (q0 + lid < u.Tq) {
          xl = lse[row_index(b, h, q0 + lid)];
          xd = delta[row_index(b, h, q0 + lid)];
        }
        row_a[lid] = xl;
        row_b[lid] = xd;
      }
      workgroupBarrier();
      var s = 0.0;
      var dp = 0.0;
      for (var d = slice; d < HD; d += SPLIT) {
        s += qs[sr * HDP + d] * ks[scol * HDP + d];
        dp += dos[sr * HDP + d] * vs[scol * HDP + d];
      }
      part_s[lid] = s;
      part_dp[lid] = dp;
      workgroupBarrier();
      if (lid < NS) {
        var st = 0.0;
        var dpt = 0.0;
        for (var t = 0u; t < SPLIT; t++) {
          st += part_s[t * NS + lid];
          dpt += part_dp[t * NS + lid];
        }
        var p = 0.0;
        if (visible(q0 + sr, k0 + scol)) { p = exp(st * u.scale - row_a[sr]); }
        ps[lid] = p;
        dss[lid] = p * (dpt - row_b[sr]);
      }
      workgroupBarrier();
      for (var a = 0u; a < MAX_ACC; a++) {
        let d = ac + a * tpr;
        if (d < HD) {
          var xv = 0.0;
          var xk = 0.0;
          for (var r = 0u; r < BQ; r++) {
            xv += ps[r * BK + ar] * dos[r * HDP + d];
            xk += dss[r * BK + ar] * qs[r * HDP + d];
          }
          dv_acc[a] += xv;
          dk_acc[a] += xk;
        }
      }
    }
  }
  let j = k0 + ar;
  if (j < u.Tk) {
    let base = kv_index(b, j, g);
    for (var a = 0u; a < MAX_ACC; a++) {
      let d = ac + a * tpr;
      if (d < HD) {
        dk[base + d] = dk_acc[a] * u.scale;
        dv[base + d] = dv_acc[a];
      }
    }
  }
}

// One workgroup owns BQ query rows of head h; D_i is recomputed here from dout and out (cheap: once per row)
// because the delta scratch lives in dq, which this kernel overwrites.
@compute @workgroup_size(WG)
fn attention_backward_dq(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let h = wid.y;
  let q0 = wid.x * BQ;
  let g = h / (u.nHeads / u.nKvHeads);
  let tpr = WG / BQ;
  let ar = lid / tpr;
  let ac = lid % tpr;
  for (var e = lid; e < BQ * HD; e += WG) {
    let r = e / HD;
    let d = e % HD;
    var xq = 0.0;
    var xd = 0.0;
    if (q0 + r < u.Tq) {
      xq = q[q_index(b, q0 + r, h) + d];
      xd = dout[q_index(b, q0 + r, h) + d];
    }
    qs[r * HDP + d] = xq;
    dos[r * HDP + d] = xd;
  }
  var dpart = 0.0;
  if (q0 + ar < u.Tq) {
    let base = q_index(b, q0 + ar, h);
    for (var a = 0u; a < MAX_ACC; a++) {
      let d = ac + a * tpr;
      if (d < HD) { dpart += dout[base + d] * out[base + d]; }
    }
  }
  part_s[lid] = dpart;
  workgroupBarrier();
  if (lid < BQ) {
    var sum = 0.0;
    for (var t = 0u; t < tpr; t++) { sum += part_s[lid * tpr + t]; }
    row_b[lid] = sum;
    var xl = 0.0;
    if (q0 + lid < u.Tq) { xl = lse[row_index(b, h, q0 + lid)]; }
    row_a[lid] = xl;
  }
  let kEnd = min(u.Tk, min(q0 + BQ, u.Tq) + u.qPosOffset);
  let sc = lid % NS;
  let sr = sc / BK;
  let scol = sc % BK;
  let slice = lid / NS;
  var acc: array<f32, MAX_ACC>;
  for (var k0 = 0u; k0 < kEnd; k0 += BK) {
    workgroupBarrier(); // row stats are written and part_s is free; the previous tile's ks and dss reads are done
    for (var e = lid; e < BK * HD; e += WG) {
      let c = e / HD;
      let d = e % HD;
      var xk = 0.0;
      var xv = 0.0;
      if (k0 + c < u.Tk) {
        xk = k[kv_index(b, k0 + c, g) + d];
        xv = v[kv_index(b, k0 + c, g) + d];
      }
      ks[c * HDP + d] = xk;
      vs[c * HDP + d] = xv;
    }
    workgroupBarrier();
    var s = 0.0;
    var dp = 0.0;
    for (var d = slice; d < HD; d += SPLIT) {
      s += qs[sr * HDP + d] * ks[scol * HDP + d];
      dp += dos[sr * HDP + d] * vs[scol * HDP + d];
    }
    part_s[lid] = s;
    part_dp[lid] = dp;
    workgroupBarrier();
    if (lid < NS) {
      var st = 0.0;
      var dpt = 0.0;
      for (var t = 0u; t < SPLIT; t++) {
        st += part_s[t * NS + lid];
        dpt += part_dp[t * NS + lid];
      }
      var ds = 0.0;
      if (visible(q0 + sr, k0 + scol)) { ds = exp(st * u.scale - row_a[sr]) * (dpt - row_b[sr]); }
      dss[lid] = ds;
    }
    workgroupBarrier();
    for (var a = 0u; a < MAX_ACC; a++) {
      let d = ac + a * tpr;
      if (d < HD) {
        var x = 0.0;
        for (var c = 0u; c < BK; c++) { x += dss[ar * BK + c] * ks[c * HDP + d]; }
        acc[a] += x;
      }
    }
  }
  if (q0 + ar < u.Tq) {
    let base = q_index(b, q0 + ar, h);
    for (var a = 0u; a < MAX_ACC; a++) {
      let d = ac + a * tpr;
      if (d < HD) { dq[base + d] = acc[a] * u.scale; }
    }
  }
}
