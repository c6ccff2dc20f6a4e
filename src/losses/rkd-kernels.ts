// RKD distance and angle losses as plain loops over float64 copies of the embeddings: value and gradient with
// respect to both sides, O(B²·d + B³) time and O(B²) memory. Composed from tf ops the angle term builds
// [B, B, d] unit vectors and [B, B, B] cosines per side plus their gradients, ~20 full-size temporaries: ~45×
// slower than these loops at B = 128 on the native backend (bench/rkd-loss.ts).

/** Embeddings [B, d] row-major, as float64. */
export interface Embeddings {
  rows: number;
  width: number;
  values: Float64Array;
}

/** ∂L/∂e = diag(self)·e + pairs·e: self [B], pairs [B, B] row-major. */
export interface GradientCoefficients {
  self: Float64Array;
  pairs: Float64Array;
}

export interface LossAndGradients {
  value: number;
  /** ∂L/∂e for the student and for the teacher. */
  student: GradientCoefficients;
  teacher: GradientCoefficients;
}

const huber = (x: number): number => {
  const a = Math.abs(x);
  return a < 1 ? 0.5 * x * x : a - 0.5;
};
const clip1 = (x: number): number => (x > 1 ? 1 : x < -1 ? -1 : x);

/** ‖e_i − e_j‖₂ from explicit differences (no ‖a‖² + ‖b‖² − 2ab cancellation), [B, B]; the diagonal is 0. */
function pairDistances(e: Embeddings): Float64Array {
  const { rows: B, width: d, values: v } = e;
  const D = new Float64Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = i + 1; j < B; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) {
        const x = v[i * d + c] - v[j * d + c];
        s += x * x;
      }
      D[i * B + j] = D[j * B + i] = Math.sqrt(s);
    }
  }
  return D;
}

/** Gram matrix of the batch-centred rows (centring keeps the entries small, so differences of them stay exact). */
function centredGram(e: Embeddings): Float64Array {
  const { rows: B, width: d, values: v } = e;
  const mean = new Float64Array(d);
  for (let i = 0; i < B; i++) for (let c = 0; c < d; c++) mean[c] += v[i * d + c] / B;
  const x = new Float64Array(B * d);
  for (let i = 0; i < B; i++) for (let c = 0; c < d; c++) x[i * d + c] = v[i * d + c] - mean[c];
  const G = new Float64Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = i; j < B; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += x[i * d + c] * x[j * d + c];
      G[i * B + j] = G[j * B + i] = s;
    }
  }
  return G;
}

/**
 * ∂L/∂e = diag(self)·e + pairs·e, from ∂L/∂D (D from explicit differences: ∂D_ij/∂e_i = (e_i − e_j)/D_ij) and
 * ∂L/∂G (G of the centred rows). Centring needs no correction: every ∂L/∂G here comes from translation-invariant
 * terms, whose rows and columns sum to 0. The [B, B]·[B, d] product is left to the caller (a BLAS matMul).
 */
function gradientCoefficients(B: number, D: Float64Array, dD: Float64Array, dG: Float64Array | null): GradientCoefficients {
  const self = new Float64Array(B);
  const pairs = new Float64Array(B * B);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      if (i === j) continue;
      const Dij = D[i * B + j];
      const w = Dij > 0 ? (dD[i * B + j] + dD[j * B + i]) / Dij : 0;
      self[i] += w;
      pairs[i * B + j] = (dG ? dG[i * B + j] + dG[j * B + i] : 0) - w;
    }
    if (dG) self[i] += 2 * dG[i * B + i];
  }
  return { self, pairs };
}

/**
 * RKD distance: (1/B²)·Σ_{i,j} Huber(ψ_t(i,j) − ψ_s(i,j)), ψ = D/μ with μ the mean over the B(B−1) ordered distinct
 * pairs; distances below 1e-6 count as 1e-6 with zero gradient (the reference's clamp of squared distances at 1e-12).
 */
export function rkdDistanceKernel(es: Embeddings, et: Embeddings): LossAndGradients {
  const B = es.rows;
  const sides = [es, et].map((e) => {
    const D = pairDistances(e);
    let sum = 0;
    for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) if (i !== j) sum += Math.max(D[i * B + j], 1e-6);
    return { D, mu: sum / (B * (B - 1)) };
  });
  const [s, t] = sides;
  let value = 0;
  const dPsi = new Float64Array(B * B); // ∂L/∂ψ_t; ∂L/∂ψ_s = −dPsi
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) {
      if (i === j) continue;
      const diff = Math.max(t.D[i * B + j], 1e-6) / t.mu - Math.max(s.D[i * B + j], 1e-6) / s.mu;
      value += huber(diff);
      dPsi[i * B + j] = clip1(diff) / (B * B);
    }
  }
  value /= B * B;
  const [student, teacher] = sides.map(({ D, mu }, side) => {
    const sign = side === 0 ? -1 : 1;
    // ψ_ij = D_ij/μ: ∂L/∂D_ij = c_ij/μ − (Σ_kl c_kl·D_kl)/(μ²·B(B−1)), zero where the clamp is active
    let cd = 0;
    for (let n = 0; n < B * B; n++) cd += sign * dPsi[n] * Math.max(D[n], n % (B + 1) === 0 ? 0 : 1e-6);
    const shared = cd / (mu * mu * B * (B - 1));
    const dD = new Float64Array(B * B);
    for (let i = 0; i < B; i++) {
      for (let j = 0; j < B; j++) {
        if (i !== j && D[i * B + j] > 1e-6) dD[i * B + j] = (sign * dPsi[i * B + j]) / mu - shared;
      }
    }
    return gradientCoefficients(B, D, dD, null);
  });
  return { value, student, teacher };
}

/** 1/D, with 0 where D = 0 (the diagonal, coincident samples): such unit vectors are 0, as F.normalize gives. */
function inverse(D: Float64Array): Float64Array {
  const out = new Float64Array(D.length);
  for (let n = 0; n < D.length; n++) out[n] = D[n] > 0 ? 1 / D[n] : 0;
  return out;
}

/**
 * RKD angle: (1/B³)·Σ_{i,j,k} Huber(ψ_t(i,j,k) − ψ_s(i,j,k)), ψ(i,j,k) = ⟨e_i − e_j, e_k − e_j⟩/(D_ij·D_kj) from
 * the centred Gram matrix: ⟨e_i − e_j, e_k − e_j⟩ = G_ik − G_ij − G_jk + G_jj. ψ = 0 where i = j, k = j or a distance
 * is 0 (F.normalize's zero unit vector), and 1 for i = k ≠ j otherwise.
 */
export function rkdAngleKernel(es: Embeddings, et: Embeddings): LossAndGradients {
  const B = es.rows;
  const Ds = pairDistances(es);
  const Dt = pairDistances(et);
  const [invS, invT] = [inverse(Ds), inverse(Dt)];
  const [Gs, Gt] = [centredGram(es), centredGram(et)];
  const n = B * B;
  const [dGs, dGt, dDs, dDt] = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  const scale = 1 / (B * B * B);
  let value = 0;
  for (let j = 0; j < B; j++) {
    const jB = j * B;
    const gsjj = Gs[jB + j];
    const gtjj = Gt[jB + j];
    for (let i = 0; i < B; i++) {
      const iB = i * B;
      const isij = invS[jB + i];
      const itij = invT[jB + i];
      if (isij === 0 && itij === 0) continue; // ψ = 0 on both sides for every k
      const cs = gsjj - Gs[iB + j]; // the k-independent part of ⟨e_i − e_j, e_k − e_j⟩
      const ct = gtjj - Gt[iB + j];
      let sumQs = 0; // Σ_k ∂L/∂N, which G_ij takes with − and G_jj with +
      let sumQt = 0;
      let sumDs = 0; // Σ_k of ∂L/∂D_ij·D_ij
      let sumDt = 0;
      // k = i: ψ = 1 where the unit vector exists, a constant (no gradient)
      const d0 = (itij > 0 ? 1 : 0) - (isij > 0 ? 1 : 0);
      value += 0.5 * d0 * d0;
      // k > i only: ψ(i,j,k) = ψ(k,j,i), so each pair counts twice — and so does each gradient term (G and D are
      // symmetric, and embeddingGradient adds ∂L/∂X_ab and ∂L/∂X_ba).
      for (let k = i + 1; k < B; k++) {
        const ws = isij * invS[jB + k];
        const wt = itij * invT[jB + k];
        const ps = (Gs[iB + k] - Gs[jB + k] + cs) * ws;
        const pt = (Gt[iB + k] - Gt[jB + k] + ct) * wt;
        const diff = pt - ps;
        const a = diff < 0 ? -diff : diff;
        value += a < 1 ? diff * diff : 2 * a - 1;
        const g = (diff > 1 ? 2 : diff < -1 ? -2 : 2 * diff) * scale; // twice ∂L/∂ψ_t; ∂L/∂ψ_s = −g
        const qs = -g * ws; // ∂L/∂N_s
        dGs[iB + k] += qs;
        dGs[jB + k] -= qs;
        sumQs += qs;
        dDs[jB + k] += g * ps * invS[jB + k]; // ∂ψ/∂D_jk = −ψ/D_jk
        sumDs += g * ps;
        const qt = g * wt;
        dGt[iB + k] += qt;
        dGt[jB + k] -= qt;
        sumQt += qt;
        dDt[jB + k] -= g * pt * invT[jB + k];
        sumDt -= g * pt;
      }
      dGs[iB + j] -= sumQs;
      dGs[jB + j] += sumQs;
      dDs[jB + i] += sumDs * isij;
      dGt[iB + j] -= sumQt;
      dGt[jB + j] += sumQt;
      dDt[jB + i] += sumDt * itij;
    }
  }
  value *= scale;
  return { value, student: gradientCoefficients(B, Ds, dDs, dGs), teacher: gradientCoefficients(B, Dt, dDt, dGt) };
}
