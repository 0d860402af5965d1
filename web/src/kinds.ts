// What kind of outputs a run has (manifest `predictions[].kind`: class, multilabel, dense, boxes,
// regression — see PREDICTION_KINDS in generated/runFormat.ts). Panels follow it instead of
// assuming a classifier. A run written before kinds existed has labels and no kind: class scores.
import type { RunDetail } from "./api";
import { PREDICTION_KINDS } from "./generated/runFormat";

export type PredictionKind = (typeof PREDICTION_KINDS)[number] | "unknown";

/** The kind of each prediction of a run (in manifest order); `[]` when the manifest lists none. */
export function predictionKinds(detail: RunDetail | null | undefined): PredictionKind[] {
  const predictions = detail?.manifest?.predictions;
  if (!Array.isArray(predictions)) return [];
  return predictions.map((p) => {
    const kind = typeof p?.kind === "string" ? p.kind : null;
    if (kind && (PREDICTION_KINDS as readonly string[]).includes(kind)) return kind as PredictionKind;
    if (kind) return "unknown";
    return Array.isArray(p?.labels) && p.labels.length > 0 ? "class" : "unknown";
  });
}

/** Whether a confusion matrix, `correct` and class targets mean something for this run. */
export function hasClassOutput(detail: RunDetail | null | undefined): boolean {
  const kinds = predictionKinds(detail);
  // no manifest (an old or partly written run): let the server say whether there are labels
  return kinds.length === 0 || kinds.includes("class");
}

/** The placeholder of the explanation target box: what "no target" explains for this kind of output. */
export function defaultTargetHint(detail: RunDetail | null | undefined): string {
  const kind = predictionKinds(detail)[0];
  if (kind === "dense") return "target (main class mass)";
  if (kind === "regression") return "target (the value)";
  if (kind === "boxes") return "target (box scores)";
  if (kind === "multilabel") return "target (predicted labels)";
  return "target (predicted class)";
}
