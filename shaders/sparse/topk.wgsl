// Top-k selection over n f32 scores by radix select (no sort): the positions of the k best keys, ascending.
// Used by sparse fine-tuning to keep the k largest |gradient|, the k smallest |W| (SaRA), or to prune the
// smallest |Δ|. The op (src/gpu/ops/topk.ts) records, in one submit:
//
//   for step in 0..3: topk_histogram, topk_select      radix select, 8 bits a step from the top: the threshold T
//   topk_count                                         per chunk: entries better than T, entries equal to T
//   topk_scan                                          exclusive prefix sums of the chunk counts
//   topk_write                                         order-preserving compaction into out
//
// and reads back state[S_COUNT ..] once. Everything is integer (atomics included), so the result is
// deterministic: the same keys give the same positions on every run and every device.
//
// Keys. Each eligible position i gets an order-preserving u32 rank key, larger = better (see `rank`): the bits of
// |x| (abs), or the sign-flipped bits of x (signed: positives get the sign bit set, negatives are inverted),
// inverted again for 'smallest'. -0 counts as +0 (they compare equal as floats). NaN and positions with
// exclude[i] != 0 are ineligible: never counted, never selected.
//
// Selection. With T the k-th largest rank key and needTies = k − #(key > T), the result is every key > T plus
// the first needTies positions whose key == T: ties at the threshold go to the lowest positions. When k ≥ the
// eligible count every eligible position is taken (state[S_ALL] = 1: T = 0, needTies = ∞).
//
// Shared by every entry point: 0 u: Params, 1 keys (read) [≥ n] f32, 2 exclude (read) [≥ n] u32 (a stand-in
// when flags bit 2 is clear), 3 state (rw) [8] u32, 4 hist (rw) [4 · 256] u32 zeroed by the op, 5 chunks (rw)
// [2 · nchunks] u32 zeroed by the op, 6 out (rw) [≥ min(k, n)] u32.
//
// Sizes. A chunk is CHUNK = 8192 consecutive positions, one workgroup of CWG = 64 threads, 128 positions a
// thread. A CPU implementation of WebGPU (SwiftShader, which runs the tests) turns every invocation of a kernel
// that has a barrier into a coroutine, whose cost grows with the threads of a workgroup and the state they keep:
// in a microbenchmark there, 64 threads × 128 positions ran 3–7x faster than 256 × 32, and 256 × 8 slower still
// (the whole selection at 2.3M keys went from ~12 s at 256 × 8 to ~1.2 s). On a GPU,
// 64-thread workgroups with long per-thread loops are ordinary, and 8192-position chunks keep the
// single-workgroup scan over chunk counts short (≤ 128 chunks a thread at 2^28 keys). topk_select and topk_scan
// are single workgroups of SWG = 256 threads (one per histogram bin). Chunked entry points are launched on
// grid1d(nchunks); the linear workgroup index is wid.x + wid.y · nwg.x and workgroups past nchunks return.

struct Params {
  n: u32,
  k: u32,       // already clamped to n by the op
  step: u32,    // radix step 0..3 (topk_histogram, topk_select)
  flags: u32,   // bit 0: compare |x|; bit 1: select the smallest; bit 2: exclude is bound
  nchunks: u32, // ceil(n / CHUNK)
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> keys: array<f32>;
@group(0) @binding(2) var<storage, read> exclude: array<u32>;
@group(0) @binding(3) var<storage, read_write> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> chunks: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> out: array<u32>;

const CWG: u32 = 64u;     // threads of the chunked kernels
const ITEMS: u32 = 128u;  // positions per thread
const CHUNK: u32 = 8192u; // CWG · ITEMS
const SWG: u32 = 256u;    // threads of the single-workgroup kernels
const BINS: u32 = 256u;

// state[]: written by topk_select and topk_scan, read by the later steps and (S_COUNT .. S_WRITTEN) by the op.
const S_PREFIX: u32 = 0u;   // high digits of T chosen so far; T itself after step 3
const S_MASK: u32 = 1u;     // which bits of S_PREFIX are chosen
const S_REM: u32 = 2u;      // entries still to take among those matching the prefix; needTies after step 3
const S_COUNT: u32 = 3u;    // min(k, eligible): what the compaction must write
const S_ALL: u32 = 4u;      // 1 when k ≥ eligible: take everything eligible
const S_ELIGIBLE: u32 = 5u; // eligible positions
const S_WRITTEN: u32 = 6u;  // what the compaction writes by topk_scan's sums (the op checks it against S_COUNT)

const FLAG_ABS: u32 = 1u;
const FLAG_SMALLEST: u32 = 2u;
const FLAG_EXCLUDE: u32 = 4u;

/** x: 1 when position i (< n) is eligible; y: its rank key, larger = better. */
fn rank(i: u32) -> vec2u {
  let bits = bitcast<u32>(keys[i]);
  let mag = bits & 0x7fffffffu;
  if (mag > 0x7f800000u) { return vec2u(0u); } // NaN: unordered, so never selected
  if ((u.flags & FLAG_EXCLUDE) != 0u && exclude[i] != 0u) { return vec2u(0u); }
  var key: u32;
  if ((u.flags & FLAG_ABS) != 0u) {
    key = mag; // non-negative floats order like their bit patterns
  } else if (mag == 0u) {
    key = 0x80000000u; // -0 == +0
  } else if (bits >= 0x80000000u) {
    key = ~bits; // more negative = larger magnitude bits = smaller key
  } else {
    key = bits | 0x80000000u; // positives above every negative
  }
  if ((u.flags & FLAG_SMALLEST) != 0u) { key = ~key; }
  return vec2u(1u, key);
}

/** 0: not selected; 1: better than T (always selected); 2: equal to T (selected while ties are needed). */
fn classify(i: u32, T: u32) -> u32 {
  if (i >= u.n) { return 0u; }
  let r = rank(i);
  if (r.x == 0u || r.y < T) { return 0u; }
  return select(2u, 1u, r.y > T);
}

/** (better, ties) of chunk c: counts after topk_count, exclusive prefix sums after topk_scan. */
fn chunk_pair(c: u32) -> vec2u {
  return vec2u(atomicLoad(&chunks[2u * c]), atomicLoad(&chunks[2u * c + 1u]));
}

var<workgroup> sc: array<vec2u, SWG>;
var<workgroup> groups: array<vec2u, 16>;

/**
 * Inclusive scan of one vec2u per thread over the first `width` threads (64 or 256; uniform); groups[width / 16
 * − 1] holds the totals on return. Two levels (width / 16 threads scan 16 values each, one thread scans the group
 * totals): 3 barriers where a Hillis–Steele scan needs 2 log2(width), and barriers are what a CPU implementation
 * pays for. Call once per entry point, from uniform control flow, with every thread of the workgroup.
 */
fn scan_incl(li: u32, v: vec2u, width: u32) -> vec2u {
  let ngroups = width / 16u;
  sc[li] = v;
  workgroupBarrier();
  if (li < ngroups) {
    var s = vec2u(0u);
    for (var j = 0u; j < 16u; j++) {
      s += sc[li * 16u + j];
      sc[li * 16u + j] = s;
    }
    groups[li] = s;
  }
  workgroupBarrier();
  if (li == 0u) {
    var s = vec2u(0u);
    for (var g = 0u; g < ngroups; g++) {
      s += groups[g];
      groups[g] = s;
    }
  }
  workgroupBarrier();
  let g = li / 16u;
  var r = sc[li];
  if (g > 0u) { r += groups[g - 1u]; }
  return r;
}

var<workgroup> lhist: array<atomic<u32>, BINS>;

// topk_histogram: hist[step · 256 + d] += #{eligible i in this chunk : key & mask == prefix, digit(key) == d},
// digit = bits 24 − 8 step .. +7. Counts go to a workgroup histogram first, so the global one sees at most 256
// atomics per chunk. Adds nothing after step 0 when state[S_ALL] is set.
// dispatch: grid1d(nchunks) workgroups of CWG.
@compute @workgroup_size(CWG)
fn topk_histogram(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= u.nchunks) { return; }
  var prefix = 0u;
  var mask = 0u;
  var counting = true;
  if (u.step > 0u) {
    prefix = state[S_PREFIX];
    mask = state[S_MASK];
    counting = state[S_ALL] == 0u;
  }
  let shift = 24u - 8u * u.step;
  if (counting) {
    let end = min(u.n, (c + 1u) * CHUNK);
    for (var i = c * CHUNK + li; i < end; i += CWG) { // coalesced: consecutive threads, consecutive positions
      let r = rank(i);
      if (r.x != 0u && (r.y & mask) == prefix) { atomicAdd(&lhist[(r.y >> shift) & 255u], 1u); }
    }
  }
  workgroupBarrier();
  for (var b = li; b < BINS; b += CWG) {
    let h = atomicLoad(&lhist[b]);
    if (h != 0u) { atomicAdd(&hist[u.step * BINS + b], h); }
  }
}

// topk_select: picks this step's digit of T from hist[step · 256 ..]: the digit d where the entries in bins
// above d are fewer than `rem` but those in bins ≥ d are not; rem drops by the count above. Step 0 also records
// the eligible count and switches to take-all when k ≥ eligible.
// dispatch: (1, 1, 1), SWG threads.
@compute @workgroup_size(SWG)
fn topk_select(@builtin(local_invocation_index) li: u32) {
  let bin = 255u - li; // thread 0 owns the top bin, so the inclusive scan counts bins ≥ bin
  let h = atomicLoad(&hist[u.step * BINS + bin]);
  let atOrAbove = scan_incl(li, vec2u(h, 0u), SWG).x;
  let total = groups[SWG / 16u - 1u].x;
  let above = atOrAbove - h;
  var rem = u.k;
  var prefix = 0u;
  var mask = 0u;
  var takeAll = u.k >= total;
  if (u.step > 0u) {
    rem = state[S_REM];
    prefix = state[S_PREFIX];
    mask = state[S_MASK];
    takeAll = state[S_ALL] != 0u;
  }
  // Every thread has read state before the winning thread rewrites it.
  storageBarrier();
  if (u.step == 0u && li == 0u) {
    state[S_ELIGIBLE] = total;
    state[S_COUNT] = min(u.k, total);
    state[S_ALL] = select(0u, 1u, takeAll);
    if (takeAll) {
      state[S_PREFIX] = 0u;
      state[S_MASK] = 0u;
      state[S_REM] = 0xffffffffu;
    }
  }
  if (takeAll) { return; }
  // 1 ≤ rem ≤ total here (k < eligible at step 0; later steps keep rem within the matching count), so exactly
  // one bin satisfies this.
  if (above < rem && rem <= atOrAbove) {
    let shift = 24u - 8u * u.step;
    state[S_PREFIX] = prefix | (bin << shift);
    state[S_MASK] = mask | (255u << shift);
    state[S_REM] = rem - above;
  }
}

// topk_count: chunks[2c] = #(key > T), chunks[2c + 1] = #(key == T) over the eligible positions of chunk c. Each
// thread adds its counts straight to the (zeroed) global pair: integer atomics are order-independent, and
// without workgroup memory the kernel needs no barrier.
// dispatch: grid1d(nchunks) workgroups of CWG.
@compute @workgroup_size(CWG)
fn topk_count(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= u.nchunks) { return; }
  let T = state[S_PREFIX];
  var g = 0u;
  var e = 0u;
  let end = min(u.n, (c + 1u) * CHUNK);
  for (var i = c * CHUNK + li; i < end; i += CWG) {
    let v = classify(i, T);
    g += select(0u, 1u, v == 1u);
    e += select(0u, 1u, v == 2u);
  }
  if (g != 0u) { atomicAdd(&chunks[2u * c], g); }
  if (e != 0u) { atomicAdd(&chunks[2u * c + 1u], e); }
}

// topk_scan: replaces the chunk counts by their exclusive prefix sums (better-than-T before chunk c, ties before
// chunk c). Thread t scans a contiguous run of ceil(nchunks / 256) chunks serially; the 256 run totals are
// scanned in the workgroup. Also records what the compaction will write: all better entries plus
// min(ties, needTies), since ties are taken in position order.
// dispatch: (1, 1, 1), SWG threads.
@compute @workgroup_size(SWG)
fn topk_scan(@builtin(local_invocation_index) li: u32) {
  let per = (u.nchunks + SWG - 1u) / SWG;
  let lo = min(u.nchunks, li * per);
  let hi = min(u.nchunks, lo + per);
  var s = vec2u(0u);
  for (var c = lo; c < hi; c++) { s += chunk_pair(c); }
  let incl = scan_incl(li, s, SWG);
  let total = groups[SWG / 16u - 1u];
  var run = incl - s;
  for (var c = lo; c < hi; c++) {
    let v = chunk_pair(c);
    atomicStore(&chunks[2u * c], run.x);
    atomicStore(&chunks[2u * c + 1u], run.y);
    run += v;
  }
  if (li == 0u) { state[S_WRITTEN] = total.x + min(total.y, state[S_REM]); }
}

// topk_write: compacts chunk c into out, in position order. Thread t owns the ITEMS consecutive positions
// t · ITEMS .. of the chunk: it classifies them into bit masks (4 words of 32 positions: better, tie), one
// workgroup scan of the per-thread (better, ties) counts orders the whole chunk, and the thread writes its
// selected positions from its masks. A position's output slot is
//   (better entries before it) + min(ties before it, needTies),
// and a tie is written only while the ties before it are fewer than needTies: the lowest positions win.
// A thread's loads are consecutive rather than coalesced across threads; every 32-byte sector still comes from
// memory once, and the pass runs once per selection. Keeping the classes in registers avoids workgroup memory,
// which cost more than the strided loads on SwiftShader.
// dispatch: grid1d(nchunks) workgroups of CWG.
@compute @workgroup_size(CWG)
fn topk_write(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= u.nchunks) { return; }
  let T = state[S_PREFIX];
  let need = state[S_REM];
  let first = c * CHUNK + li * ITEMS;
  var better: array<u32, 4>;
  var tied: array<u32, 4>;
  var mine = vec2u(0u);
  for (var q = 0u; q < ITEMS / 32u; q++) {
    var bm = 0u;
    var tm = 0u;
    for (var b = 0u; b < 32u; b++) {
      let v = classify(first + 32u * q + b, T);
      bm |= select(0u, 1u << b, v == 1u);
      tm |= select(0u, 1u << b, v == 2u);
    }
    better[q] = bm;
    tied[q] = tm;
    mine += vec2u(countOneBits(bm), countOneBits(tm));
  }
  let before = chunk_pair(c) + scan_incl(li, mine, CWG) - mine;
  var ties = before.y;
  var o = before.x + min(ties, need);
  for (var q = 0u; q < ITEMS / 32u; q++) {
    let bm = better[q];
    let tm = tied[q];
    var m = bm | tm;
    while (m != 0u) {
      let b = firstTrailingBit(m);
      m &= m - 1u;
      let bit = 1u << b;
      if ((bm & bit) != 0u || ties < need) {
        out[o] = first + 32u * q + b;
        o++;
      }
      if ((tm & bit) != 0u) { ties++; }
    }
  }
}
