"""Numbers a producer can trust: the quality guard, a calibrated cluster confidence, a similarity
that is never negative, and the evaluation as sentences.

* **Quality guard** (``guard_decision``): the held-out folds measure precision@5 of the fine-tuned
  head and of the raw backbone on the same tracks and labels. The head is used only when it is not
  worse than raw within the folds' noise, i.e. ``mean(ft - raw) >= -SE(ft - raw)`` over the folds
  (standard error of the per-fold differences), *and* when it learned something that holds on unseen
  tracks: its precision must lie above the label-frequency chance level by more than one standard
  error (random labels give chance-level precision for both, so "not worse" alone would keep a head
  trained on noise). Otherwise the index uses the raw backbone vectors.
* **Confidence** (``fit_calibration`` / ``calibrated_confidence``): on every held-out track the
  nearest cluster centre is predicted with the same score the app shows; an isotonic fit of "was the
  prediction right" against that score gives, for any score, how often such a prediction was right.
  It is stored in the model meta and said as likely / possible / unsure.
* **Similarity** (``display_similarity``): cosine clipped to 0..1 for display, with a one-line meaning
  (``SIMILARITY_TOOLTIP``).
"""

from __future__ import annotations

import math

import numpy as np

LIKELY, POSSIBLE = 0.70, 0.40
MIN_CALIBRATION_SAMPLES = 8

SIMILARITY_TOOLTIP = ("How alike the two tracks sound to the model, from 1.00 (the same sound) down to 0 "
                      "(nothing in common); compare rows with each other rather than reading one number alone.")
CONFIDENCE_TOOLTIP = ("How often the app was right when it named a cluster with this score, tested on "
                      "references it had not trained on: likely = right 70 % of the time or more, possible = "
                      "40-70 %, unsure = less.")


def display_similarity(cosine: float) -> float:
    """The similarity shown to a producer: the cosine, clipped to 0..1 (never negative)."""
    c = float(cosine)
    return 0.0 if not math.isfinite(c) else min(1.0, max(0.0, c))


# -- guard ----------------------------------------------------------------------------------------
def _mean_se(x) -> tuple[float, float]:
    x = np.asarray([v for v in x if v == v], dtype=np.float64)
    if len(x) == 0:
        return float("nan"), float("nan")
    se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("inf")
    return float(x.mean()), se


def guard_decision(held_out: dict | None) -> dict:
    """{"use_head", "verdict" (better / same / worse / untested), "diff", "se", "reason"} from a held-out
    evaluation with per-fold precision@5 (see the module docstring for the rule)."""
    if not held_out or "per_fold" not in held_out:
        return {"use_head": None, "verdict": "untested", "diff": None, "se": None,
                "reason": "not enough labelled tracks to test the model on tracks it never saw"}
    pf = held_out["per_fold"]
    ft, raw, chance = (np.asarray(pf[k], dtype=np.float64) for k in ("finetuned", "raw", "chance"))
    diff, se = _mean_se(ft - raw)
    above, se_above = _mean_se(ft - chance)
    if not math.isfinite(diff):
        return {"use_head": None, "verdict": "untested", "diff": None, "se": None,
                "reason": "no held-out track had a style shared with the others"}
    se_f = se if math.isfinite(se) else 0.0
    verdict = "better" if diff > se_f else "worse" if diff < -se_f else "same"
    learned = above > (se_above if math.isfinite(se_above) else 0.0)
    use = verdict != "worse" and learned
    if verdict == "worse":
        reason = "the trained model found fewer same-style references than the untrained backbone"
    elif not learned:
        reason = "the labels could not be learned: on unseen tracks the trained model did no better than chance"
    else:
        reason = "the trained model is at least as good as the untrained backbone"
    return {"use_head": bool(use), "verdict": verdict, "diff": diff, "se": se, "learned": bool(learned),
            "reason": reason}


# -- sentences --------------------------------------------------------------------------------------
def _of5(p) -> str:
    return f"{5 * p:.1f}"


def evaluation_sentence(evaluation: dict) -> str:
    """"Of the 5 closest references, 4.1 share the query's style on tracks the model never saw;
    without training: 3.6." (or why there is no such number)."""
    held = evaluation.get("held_out") or {}
    ft = held.get("finetuned", {}).get("precision_at_5")
    raw = held.get("raw", {}).get("precision_at_5")
    if ft is None or ft != ft:
        return "The model could not be tested on tracks it never saw (too few tracks with a shared style)."
    return (f"Of the 5 closest references, {_of5(ft)} share the query's style on tracks the model never saw; "
            f"without training: {_of5(raw)}.")


def guard_sentence(evaluation: dict) -> str:
    """One sentence saying which vectors the index uses and why."""
    g = evaluation.get("guard") or {}
    held = evaluation.get("held_out") or {}
    ft = held.get("finetuned", {}).get("precision_at_5")
    raw = held.get("raw", {}).get("precision_at_5")
    if evaluation.get("views_only"):
        if g.get("use_head"):
            return ("No styles to learn from: the model only learned to keep altered copies of a track together, "
                    "so the search is based on sound alone.")
        return "No styles to learn from: the search uses the untrained backbone's own similarity (sound alone)."
    if g.get("use_head") is None or g.get("verdict") == "untested":
        return "The trained model is in use, untested: " + g.get("reason", "too few tracks") + "."
    if g["use_head"]:
        if g.get("verdict") == "better":
            return (f"The trained model is in use: it finds {_of5(ft)} same-style references of 5 on tracks it "
                    f"never saw, the untrained backbone {_of5(raw)}.")
        return ("The trained model is in use: on tracks it never saw it does as well as the untrained backbone "
                f"({_of5(ft)} vs {_of5(raw)} of 5, within the test's noise).")
    if not g.get("learned", True):
        return ("Training did not help: the labels could not be learned on tracks the model never saw, so the "
                "search uses the untrained backbone's own similarity.")
    return (f"Training did not help (on tracks it never saw: {_of5(ft)} same-style references of 5, untrained "
            f"backbone {_of5(raw)}), so the search uses the untrained backbone's own similarity.")


# -- confidence -------------------------------------------------------------------------------------
def fit_calibration(scores, correct) -> dict | None:
    """Isotonic fit of P(prediction right | score) from held-out predictions; None with too few."""
    scores = np.asarray(scores, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if len(scores) < MIN_CALIBRATION_SAMPLES:
        return None
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(scores, correct)
    return {"x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in iso.y_thresholds_],
            "n": int(len(scores)), "accuracy": float(correct.mean())}


def confidence_word(probability: float) -> str:
    return "likely" if probability >= LIKELY else "possible" if probability >= POSSIBLE else "unsure"


def calibrated_confidence(score: float, calibration: dict | None) -> tuple[float, str, bool]:
    """(probability the cluster is right, word, calibrated?). Without a calibration the raw score is
    returned (calibrated False) and the word is at most "possible": it was never checked."""
    if calibration and calibration.get("x"):
        p = float(np.interp(score, calibration["x"], calibration["y"]))
        return p, confidence_word(p), True
    p = float(score)
    return p, "possible" if p >= 0.9 else "unsure", False
