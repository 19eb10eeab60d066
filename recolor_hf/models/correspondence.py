"""The match of content patches to reference patches (main §3.4.2): W~0R = Hard(A_C ⊙ M) W0R.

Cosine cross-attention A_C(i, j) = <F_S(i), F_R(j)> / (|F_S(i)| |F_R(j)|) (main eq. 4) between the semantic features
of the content and the reference at 1/16, random semantic masking M of A_C's columns during training, hard argmax
activation (main eq. 5) and the gather of the chosen reference patch's value (W0R, or its Lab statistics S_R).

Beyond the paper, the match prefers among semantically similar reference patches those of similar colour (the
colour prior added to A_C to choose, never to the confidence), and can keep each content patch's K best
reference patches for P_W's learned ranker. User guidance (``recolor_hf.guidance``) is the user-edited version of
this match: clicks and keep points overwrite it patch by patch, with the same functions (painted regions leave it
alone: they are region-to-region transfers, ``guidance.RegionEdit``).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .layers import resize_map

COLOUR_PRIOR = (0.1, 20.0)  # (weight, Lab sigma) of the colour affinity added to A_C to choose the match


@dataclass
class Correspondence:
    """Result of matching content patches to reference patches at 1/16 resolution.

    warped: W~0R (B, D, h_s, w_s); confidence: (B, 1, h_s, w_s); index: (B, h_s * w_s), the reference patch
    (row-major) each content patch takes its colour from. With K > 1 candidates (the automatic match of a predictor
    with ``match_candidates`` K): candidates (B, h_s * w_s, K), the K best reference patches, best first (index is
    the first); scores (B, h_s * w_s, K), their attention A_C (-inf where masked); ranking (B, h_s * w_s, K), the
    score that ordered them (A_C plus the colour prior, if any); candidate_maps W~0R_k
    (B, D, h_s * w_s, K), each candidate's W0R. None for a single match (and user guidance).
    """

    warped: torch.Tensor
    confidence: torch.Tensor
    index: torch.Tensor
    candidates: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    ranking: torch.Tensor | None = None
    candidate_maps: torch.Tensor | None = None


def cosine_attention(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """A(i, j) = <q_i, k_j> / (|q_i| |k_j|): (B, C, h1, w1), (B, C, h2, w2) -> (B, h1*w1, h2*w2)."""
    q = F.normalize(query.flatten(2), dim=1)
    k = F.normalize(key.flatten(2), dim=1)
    return q.transpose(1, 2) @ k


def random_column_mask(batch: int, columns: int, ratio: float, rng: torch.Generator | None = None,
                       device=None) -> torch.Tensor:
    """Random semantic mask M (B, N_R): 0 for round(ratio * N_R) random reference patches (at least one kept)."""
    n_masked = min(int(round(ratio * columns)), columns - 1)
    scores = torch.rand(batch, columns, generator=rng, device=device)
    ranks = scores.argsort(dim=1).argsort(dim=1)
    return (ranks >= n_masked).float()


def colour_prior(content: torch.Tensor, reference: torch.Tensor, weight: float = COLOUR_PRIOR[0],
                 sigma: float = COLOUR_PRIOR[1]) -> torch.Tensor:
    """Colour affinity added to the match scores: weight exp(-|mu_S,i - mu_R,j|^2 / (2 sigma^2)).

    content (B, 6, hs, ws), reference (B, 6, hr, wr): patch statistics -> (B, hs*ws, hr*wr); Lab means only.
    """
    distance = torch.cdist(content[:, :3].flatten(2).transpose(1, 2), reference[:, :3].flatten(2).transpose(1, 2))
    return weight * torch.exp(-distance.square() / (2 * sigma ** 2))


def top_candidates(attention: torch.Tensor, k: int, mask: torch.Tensor | None = None,
                   prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every query's k best keys under A ⊙ M (+ prior), best first.

    attention: (B, N_q, N_k); mask: optional bool broadcastable to it, False where a key is hidden; prior: optional
    (B, N_q, N_k) added to the attention to rank the keys -> (index (B, N_q, k), scores (B, N_q, k): the attention
    of those keys without the prior, -inf for a hidden key).
    """
    if mask is not None:
        attention = attention.masked_fill(~mask, float("-inf"))
    index = (attention if prior is None else attention + prior).topk(k, dim=2).indices
    return index, attention.gather(2, index)


def hard_attention(attention: torch.Tensor, mask: torch.Tensor | None = None,
                   prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard(A ⊙ M) of main eq. 5, W~0R = Hard(A_C ⊙ M) W0R: every query's best key (``top_candidates`` with k = 1)
    -> (index (B, N_q) of the chosen key, confidence (B, N_q): its attention, without the prior)."""
    index, scores = top_candidates(attention, 1, mask, prior)
    return index[..., 0], scores[..., 0]


def gather_patches(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Each query takes the value of its key: values (B, D, N_k), index (B, N_q) -> (B, D, N_q)."""
    return torch.gather(values, 2, index[:, None].expand(-1, values.shape[1], -1))


def gather_statistics(reference: torch.Tensor, content: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """S~R = Hard(A_C) S_R: reference statistics (B, 6, hr, wr) gathered by a correspondence index (B, hs*ws) onto
    the content grid of ``content`` (B, 6, hs, ws); index -1 takes the content patch's own statistics."""
    warped = gather_patches(reference.flatten(2), index.clamp_min(0)).view_as(content)
    return torch.where((index < 0).view(index.shape[0], 1, *content.shape[-2:]), content, warped)


def hard_warp(attention: torch.Tensor, values: torch.Tensor, out_size: tuple[int, int],
              mask: torch.Tensor | None = None, prior: torch.Tensor | None = None, candidates: int = 1
              ) -> Correspondence:
    """Hard(A ⊙ M) V (main eq. 5) as a ``Correspondence`` at out_size (h_q, w_q), with the ``candidates`` best
    keys of each query when more than one (W~0R_k = Hard_k(A ⊙ M) V).

    attention: (B, N_q, N_k); values: (B, D, h_k, w_k); mask, prior: see ``top_candidates``.
    """
    index, scores = top_candidates(attention, candidates, mask, prior)
    b, d, n = values.shape[0], values.shape[1], index.shape[1]
    maps = gather_patches(values.flatten(2), index.flatten(1)).view(b, d, n, candidates)
    match = Correspondence(maps[..., 0].reshape(b, d, *out_size), scores[..., 0].view(b, 1, *out_size),
                           index[..., 0])
    if candidates > 1:
        ranking = scores if prior is None else scores + prior.gather(2, index)
        match.candidates, match.scores, match.ranking, match.candidate_maps = index, scores, ranking, maps
    return match


def correspond(content_semantic: torch.Tensor, reference_semantic: torch.Tensor, reference_map: torch.Tensor,
               mask_ratio: float = 0.0, rng: torch.Generator | None = None,
               prior: torch.Tensor | None = None, candidates: int = 1) -> Correspondence:
    """W~0R = Hard(A_C ⊙ M) W0R (main eqs. 4-5).

    content_semantic F_S: (B, f, h_s, w_s); reference_semantic F_R: (B, f, h_r, w_r);
    reference_map W0R: (B, D, h_r', w_r') (resized to F_R's grid); mask_ratio: share of reference patches
    hidden from the match (training only), drawn with the random generator ``rng``; prior: optional (B, h_s*w_s, h_r*w_r) added to A_C to choose the
    match (``colour_prior``); candidates: K best matches kept per content patch (``hard_warp``).
    """
    attention = cosine_attention(content_semantic, reference_semantic)
    mask = None
    if mask_ratio > 0:
        keep = random_column_mask(attention.shape[0], attention.shape[2], mask_ratio, rng, attention.device)
        mask = keep[:, None, :] > 0
    values = resize_map(reference_map, reference_semantic.shape[-2:])
    return hard_warp(attention, values, tuple(content_semantic.shape[-2:]), mask, prior, candidates)
