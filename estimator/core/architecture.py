"""Parameter groups and per-layer shapes of a model, derived column-wise from catalog rows.

docs/estimator.md §1 "Parameters": a model splits into dense parameters D (attention, norms, shared experts,
dense FFN layers, LM head, embeddings) and routed experts: E experts per MoE layer, k active per
token, X = the parameters of one expert summed over all MoE layers, so that
`total = D + E*X` and `active = D + k*X`. When only total and active are published (the usual
case) `X = (total - active) / (E - k)`; when `active` is missing, X comes from the shapes
(3 matrices of hidden x moe_intermediate per MoE layer).

`model_arrays` takes a DataFrame with the `schema.MODEL_COLUMNS` (catalog units) and returns numpy
arrays in parameters/elements; no Python loop over rows. Rules that fill a missing field are
listed in `DERIVATION_RULES`, and `ModelArrays.derived` says which rows used which rule.

The column helpers the whole core uses live here too: `col` (float columns), `coded`/`Coded`
(string columns as codes into their few distinct values) and `map_combinations` (a function
evaluated once per distinct combination of columns, not once per row).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from estimator.core.units import BILLION

# The documented rules applied when a catalog field is missing (schema.py: "missing is never 0").
DERIVATION_RULES: dict[str, str] = {
    "head_dim": "head_dim = hidden_size / n_heads (transformers default)",
    "active_params": "dense model: active = total",
    "expert_params": "X = (total - active) / (E - k); without active: X = 3 * hidden * moe_intermediate * MoE layers",
    "input_embedding": "input embedding = vocab_size * hidden_size (embedding_params_b halves when untied)",
    "input_embedding_unknown": "vocab or hidden unknown: the input embedding is counted as read each pass (conservative)",
    "global_layers": "sliding_window set without n_global_layers: every layer is sliding (HF config semantics)",
    "kv_heads": "n_kv_heads missing: = n_heads (multi-head attention)",
}


# Up to this many rows, distinct values are found with a dict: pandas' hashing costs more than
# the few rows of a request (the same first-seen order, so the same codes).
FEW_VALUES = 16
_MISSING = object()


def col(frame: pd.DataFrame, name: str, default: float = np.nan) -> np.ndarray:
    """A column as float64 (missing -> NaN, or `default` when the column is absent)."""
    if name not in frame.columns:
        return np.full(len(frame), default, dtype=np.float64)
    values = frame[name]
    if not isinstance(values, pd.Series):
        # A column of a frame kept as arrays (frames.ScenarioColumns): an ndarray or a Categorical.
        if values.dtype == object or isinstance(values.dtype, pd.CategoricalDtype):
            values = pd.to_numeric(np.asarray(values, dtype=object), errors="coerce")
        return np.asarray(values, dtype=np.float64)
    if values.dtype == object or isinstance(values.dtype, pd.CategoricalDtype):
        values = pd.to_numeric(values.astype(object), errors="coerce")
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _clean(value) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


@dataclass
class Coded:
    """A string column as integer codes into its distinct values (missing -> '').

    A catalog matrix has ~250k rows but a few dozen distinct strings per column: string work is
    done on `uniques` and broadcast through `codes`, so the pipeline has no per-row Python.
    """

    codes: np.ndarray
    uniques: np.ndarray

    @property
    def values(self) -> np.ndarray:
        return self.uniques[self.codes]

    def eq(self, value: str) -> np.ndarray:
        return (self.uniques == value)[self.codes]

    def isin(self, values) -> np.ndarray:
        # A few distinct strings: a set lookup each, where np.isin sorts both sides.
        wanted = set(values)
        return np.array([u in wanted for u in self.uniques.tolist()], dtype=bool)[self.codes]

    def map(self, func, dtype=object) -> np.ndarray:
        """`func(distinct values) -> array`, broadcast to rows."""
        return np.asarray(func(self.uniques), dtype=dtype)[self.codes]

    def categorical(self) -> pd.Categorical:
        uniques, codes = np.unique(self.uniques, return_inverse=True)
        return pd.Categorical.from_codes(codes[self.codes], categories=pd.Index(uniques, dtype=object))

    def take(self, index: np.ndarray) -> "Coded":
        return Coded(self.codes[index], self.uniques)


def coded(frame: pd.DataFrame, name: str) -> Coded:
    """A string column of a frame as `Coded`; categorical columns are read without re-hashing."""
    if name not in frame.columns:
        return Coded(np.zeros(len(frame), dtype=np.intp), np.array([""], dtype=object))
    values = frame[name]
    if isinstance(values.dtype, pd.CategoricalDtype):
        categorical = values.array if isinstance(values, pd.Series) else values
        uniques = np.array([_clean(c) for c in categorical.categories] + [""], dtype=object)
        codes = np.asarray(categorical.codes).astype(np.intp)
        return Coded(np.where(codes < 0, len(uniques) - 1, codes), uniques)
    values = np.asarray(values, dtype=object)
    if len(values) <= FEW_VALUES:
        # A request's few rows: a dict is far cheaper than hashing through pandas.
        index: dict[str, int] = {}
        codes = np.array([index.setdefault(_clean(v), len(index)) for v in values], dtype=np.intp)
        return Coded(codes, np.array(list(index), dtype=object))
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return Coded(codes.astype(np.intp), np.array([_clean(u) for u in uniques], dtype=object))


def text(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A string column as an object array where missing means ''."""
    return coded(frame, name).values


def flag(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A boolean column where missing means False."""
    if name not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    values = frame[name]
    if values.dtype == bool:
        return np.asarray(values)
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)
    truth = np.array([bool(u) if u is not None and u == u and u not in ("", "False", "false", "0") else False
                      for u in uniques], dtype=bool)
    return truth[codes] if len(codes) else np.zeros(0, dtype=bool)


def nan0(values: np.ndarray) -> np.ndarray:
    """NaN -> 0 (np.nan_to_num also scans for infinities: twice the work on big arrays)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(values != values, 0.0, values)


def nan_to_num(values, nan: float = 0.0):
    """np.nan_to_num(values, nan=nan), the same values, without its scan for infinities when every
    value is finite: the core calls it ~30 times per estimate, and numpy's own costs ~5 us a call."""
    array = np.asarray(values)
    if array.ndim and array.dtype.kind == "f" and np.isfinite(array).all():
        return array.copy()
    return np.nan_to_num(array if array.ndim else values, nan=nan)


def map_unique(values: np.ndarray, func, dtype=object) -> np.ndarray:
    """Apply `func` (array of unique values -> array) once per distinct value, broadcast back."""
    codes, uniques = pd.factorize(np.asarray(values), use_na_sentinel=False)
    result = np.asarray(func(np.asarray(uniques, dtype=object)), dtype=dtype)
    return result[codes]


def _factorize(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes in first-seen order and the count of distinct values, NaN one value (pd.factorize's)."""
    if len(values) <= FEW_VALUES:
        index: dict = {}
        # Missing values (None, pd.NA, NaN: not equal to itself) are one value, as pandas counts them.
        codes = [index.setdefault(_MISSING if v is None or v is pd.NA or v != v else v, len(index))
                 for v in values.tolist()]
        return np.array(codes, dtype=np.intp), len(index)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, len(uniques)


def _codes(array) -> tuple[np.ndarray, int]:
    if isinstance(array, Coded):
        return array.codes, len(array.uniques)
    return _factorize(np.asarray(array))


def map_combinations(arrays: list, func, dtype=object, as_coded: bool = False):
    """`func(*distinct_columns)` once per distinct combination of columns (arrays or `Coded`).

    Returns the broadcast array, or a `Coded` of the results when `as_coded`.
    """
    combined = np.zeros(len(arrays[0].codes if isinstance(arrays[0], Coded) else arrays[0]), dtype=np.int64)
    for array in arrays:
        codes, size = _codes(array)
        combined = combined * (size + 1) + codes
    # Hash-based factorize (no sort), then the first row of each distinct combination.
    inverse, count = _factorize(combined)
    first = np.empty(count, dtype=np.intp)
    first[inverse[::-1]] = np.arange(len(inverse) - 1, -1, -1)
    columns = [(a.uniques[a.codes[first]] if isinstance(a, Coded) else np.asarray(a, dtype=object)[first]) for a in arrays]
    results = np.asarray(func(*columns), dtype=dtype)
    if as_coded:
        return Coded(inverse.astype(np.intp), results)
    return results[inverse]


@dataclass
class ModelArrays:
    """SI-free counts (parameters, elements) per row, one numpy array per quantity."""

    n_layers: np.ndarray
    hidden: np.ndarray
    vocab: np.ndarray
    n_heads: np.ndarray
    head_dim: np.ndarray
    total: np.ndarray            # parameters, every expert counted
    active: np.ndarray           # parameters used per token
    n_experts: np.ndarray        # E (0 for dense)
    top_k: np.ndarray            # k (0 for dense)
    expert_params: np.ndarray    # X: one expert summed over all MoE layers
    dense_params: np.ndarray     # D = total - E*X
    input_embedding: np.ndarray  # gathered, not read in full, when untied
    lm_head: np.ndarray          # vocab x hidden, a GEMM every pass that projects logits
    tied: np.ndarray             # bool
    vision_params: np.ndarray    # 0 when the model has no vision encoder
    # KV cache shape: elements per token per layer, for sliding (local) and global layers.
    n_local_layers: np.ndarray
    n_global_layers: np.ndarray
    sliding_window: np.ndarray   # inf where there is no window
    kv_elems_local: np.ndarray
    kv_elems_global: np.ndarray
    # Attention FLOPs per query token per attended key per layer (QK^T and PV, 2 FLOP per MAC).
    attn_flops_local: np.ndarray
    attn_flops_global: np.ndarray
    is_moe: np.ndarray
    is_diffusion: np.ndarray
    diffusion_full_attention: np.ndarray  # family A (LLaDA, Dream): approximate caches
    block_size: np.ndarray
    tokens_per_forward: np.ndarray
    self_conditioning: np.ndarray
    ffn_width: np.ndarray        # FFN activations per token: dense width, or k x expert width
    matmul_params: np.ndarray    # active parameters multiplying every token, embeddings and LM head excluded
    skipped_per_pass: np.ndarray  # weights a pass does not read: the untied input embedding (a gather)
    derived: dict[str, np.ndarray] = field(default_factory=dict)

    def take(self, index: np.ndarray) -> "ModelArrays":
        """The rows at `index` (e.g. only the diffusion models of a matrix)."""
        values = {}
        for item in fields(self):
            value = getattr(self, item.name)
            values[item.name] = {k: v[index] for k, v in value.items()} if isinstance(value, dict) else value[index]
        return ModelArrays(**values)




def model_arrays(frame: pd.DataFrame) -> ModelArrays:
    """Derive parameter groups and layer shapes for every row of a models/scenarios frame."""
    derived: dict[str, np.ndarray] = {}
    n_layers = col(frame, "n_layers")
    hidden = col(frame, "hidden_size")
    vocab = col(frame, "vocab_size")
    n_heads = col(frame, "n_heads")
    head_dim = col(frame, "head_dim")
    missing = np.isnan(head_dim)
    head_dim = np.where(missing, hidden / n_heads, head_dim)
    derived["head_dim"] = missing & ~np.isnan(head_dim)
    n_kv = col(frame, "n_kv_heads")
    missing = np.isnan(n_kv)
    n_kv = np.where(missing, n_heads, n_kv)
    derived["kv_heads"] = missing & ~np.isnan(n_kv)

    total = col(frame, "total_params_b") * BILLION
    active = col(frame, "active_params_b") * BILLION
    experts = nan_to_num(col(frame, "n_experts"))
    top_k = nan_to_num(col(frame, "n_experts_active"))
    is_moe = (experts > 0) & (top_k > 0) & (experts > top_k)
    experts = np.where(is_moe, experts, 0.0)
    top_k = np.where(is_moe, top_k, 0.0)
    missing_active = np.isnan(active)
    derived["active_params"] = missing_active & ~is_moe
    # From the shapes: gate, up and down projections of one expert in every MoE layer.
    moe_layers = n_layers - nan_to_num(col(frame, "n_dense_layers"))
    x_shapes = 3.0 * hidden * col(frame, "moe_intermediate_size") * moe_layers
    with np.errstate(divide="ignore", invalid="ignore"):
        x_counts = (total - active) / (experts - top_k)
    use_counts = is_moe & ~missing_active & (x_counts > 0)
    expert_params = np.where(is_moe, np.where(use_counts, x_counts, x_shapes), 0.0)
    derived["expert_params"] = is_moe & ~use_counts
    dense_params = total - experts * expert_params
    active = np.where(missing_active, np.where(is_moe, dense_params + top_k * expert_params, total), active)

    tied = flag(frame, "tied_embeddings")
    embedding_b = col(frame, "embedding_params_b") * BILLION
    vocab_hidden = vocab * hidden
    # embedding_params_b counts the input embedding plus an untied LM head (schema.py).
    per_matrix = np.where(np.isnan(embedding_b), vocab_hidden, np.where(tied, embedding_b, embedding_b / 2))
    derived["input_embedding_unknown"] = np.isnan(per_matrix)
    input_embedding = nan_to_num(per_matrix)
    lm_head = nan_to_num(per_matrix)
    vision = nan_to_num(col(frame, "vision_params_b")) * BILLION

    # KV layout. MLA stores one latent (kv_lora_rank) plus a shared RoPE key per token per layer.
    window = col(frame, "sliding_window")
    has_window = ~np.isnan(window) & (window > 0)
    n_global = col(frame, "n_global_layers")
    derived["global_layers"] = has_window & np.isnan(n_global)
    n_global = np.where(has_window, nan_to_num(n_global), n_layers)
    n_global = np.minimum(n_global, n_layers)
    n_local = n_layers - n_global
    window = np.where(has_window, window, np.inf)
    global_kv = col(frame, "global_kv_heads")
    global_kv = np.where(np.isnan(global_kv), n_kv, global_kv)
    global_dim = col(frame, "global_head_dim")
    global_dim = np.where(np.isnan(global_dim), head_dim, global_dim)
    kv_lora = col(frame, "kv_lora_rank")
    rope_dim = nan_to_num(col(frame, "qk_rope_head_dim"))
    is_mla = ~np.isnan(kv_lora) & (kv_lora > 0)
    kv_elems_local = 2.0 * n_kv * head_dim
    # Gemma 4's global layers use V = K (attention_k_eq_v): one cached tensor, not two.
    kv_tensors_global = np.where(flag(frame, "global_kv_shared"), 1.0, 2.0)
    kv_elems_global = np.where(is_mla, kv_lora + rope_dim, kv_tensors_global * global_kv * global_dim)
    # Absorbed MLA attends over the latent: scores over (rank + rope), values over rank.
    attn_local = 4.0 * n_heads * head_dim
    attn_global = np.where(is_mla, 2.0 * n_heads * (2.0 * kv_lora + rope_dim), 4.0 * n_heads * global_dim)

    # Width of the FFN activations one token produces (memory of a pass); 4 x hidden when unknown.
    ffn_width = np.where(is_moe, top_k * col(frame, "moe_intermediate_size"), col(frame, "intermediate_size"))
    ffn_width = np.where(np.isnan(ffn_width), 4.0 * hidden, ffn_width)

    is_diffusion = coded(frame, "generation_mode").eq("block_diffusion")
    full_attention = is_diffusion & coded(frame, "diffusion_attention").eq("full")
    return ModelArrays(
        n_layers=n_layers, hidden=hidden, vocab=vocab, n_heads=n_heads, head_dim=head_dim,
        total=total, active=active, n_experts=experts, top_k=top_k,
        expert_params=expert_params, dense_params=dense_params,
        input_embedding=input_embedding, lm_head=lm_head, tied=tied, vision_params=vision,
        n_local_layers=n_local, n_global_layers=n_global, sliding_window=window,
        kv_elems_local=kv_elems_local, kv_elems_global=kv_elems_global,
        attn_flops_local=attn_local, attn_flops_global=attn_global,
        is_moe=is_moe, is_diffusion=is_diffusion, diffusion_full_attention=full_attention,
        block_size=col(frame, "block_size"), tokens_per_forward=col(frame, "tokens_per_forward"),
        self_conditioning=flag(frame, "self_conditioning"), ffn_width=ffn_width,
        matmul_params=np.maximum(active - np.where(tied, lm_head, lm_head + input_embedding), 0.0),
        skipped_per_pass=np.where(tied, 0.0, input_embedding), derived=derived,
    )


def kv_elements(m: ModelArrays, context: np.ndarray | float) -> np.ndarray:
    """KV-cache elements of ONE sequence holding `context` tokens, summed over layers.

    `ctx_len(layer) = min(context, sliding_window)` for local layers, `context` for global ones.
    """
    context = np.asarray(context, dtype=np.float64)
    local = m.n_local_layers * np.minimum(context, m.sliding_window) * m.kv_elems_local
    return local + m.n_global_layers * context * m.kv_elems_global


def attention_flops(m: ModelArrays, queries: np.ndarray | float, keys_mean: np.ndarray | float) -> np.ndarray:
    """QK^T and PV FLOPs of `queries` tokens attending to `keys_mean` keys on average (per sequence)."""
    queries = np.asarray(queries, dtype=np.float64)
    keys_mean = np.asarray(keys_mean, dtype=np.float64)
    local = m.n_local_layers * np.minimum(keys_mean, m.sliding_window) * m.attn_flops_local
    return queries * (local + m.n_global_layers * keys_mean * m.attn_flops_global)
