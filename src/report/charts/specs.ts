/** Every chart of a report, in report order: one file per chart, each a Vega-Lite spec or null when it has nothing to draw. */
import { variantOrder } from './data.js';
import { lossCurves } from './lossCurves.js';
import { attentionCurves } from './attentionCurves.js';
import { lrSensitivity } from './lrSensitivity.js';
import { sensitivityBySeed } from './sensitivityBySeed.js';
import { heatmapsBySeed } from './heatmaps.js';
import { width } from './width.js';
import type { ChartSpec } from './theme.js';
import type { ReportData } from '../data/types.js';

/** Every chart the data supports, in report order; charts without data are left out. */
export function chartSpecs(data: ReportData): ChartSpec[] {
  const variants = variantOrder(data);
  return [
    lossCurves(data, variants),
    attentionCurves(data, variants),
    lrSensitivity(data, variants),
    sensitivityBySeed(data, variants),
    heatmapsBySeed(data, variants),
    width(data),
  ].filter((c): c is ChartSpec => c !== null);
}
