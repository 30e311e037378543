// The inspector's history chart (Apache ECharts, only its line chart and the components
// it uses, so that the bundle carries nothing else): one field over the chosen window,
// the alarm thresholds as bands in the four level colours (markArea, with the level and
// value written on each), the alarm raises and escalations as vertical lines in their
// level's colour (markLine), for buckets the min..max band around the mean, and in a
// replayed drill the field's true value as a dashed step line labelled true/真实值. Times
// are local times of the scene's zone (i18n's clock). Type is large: a wall is read from
// 5 m away.
import * as echarts from 'echarts/core';
import { LineChart } from 'echarts/charts';
import { GridComponent, MarkAreaComponent, MarkLineComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { clock, dateClock, t } from '../i18n.js';
import { LEVEL_COLOURS, LEVEL_INK } from '../levels.js';
import { el, setText } from './dom.js';
import { formatValue } from './labels.js';

echarts.use([LineChart, GridComponent, MarkAreaComponent, MarkLineComponent, TooltipComponent, CanvasRenderer]);

/** @typedef {import('../types').ChartData} ChartData */

const ROMAN = ['', 'IV', 'III', 'II', 'I'];
const LINE = '#5cc8ff';
const INK = '#f2f6fb';
const MUTED = '#a9b8cc';
const GRID = '#2a3a52';
const TRUE = '#ff8a5c';

/** The root font size in CSS pixels: the chart's type follows the page's (rem). */
function rem() {
  return parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
}

/** The y range to draw: the data, and the nearest threshold beyond it (how far the value
 * is from the next level is what the chart is read for), with a little room.
 * @param {ChartData} data @returns {[number, number]} */
export function valueRange(data) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const series of [data.v, data.min, data.max, data.truth?.v ?? null]) {
    if (!series) continue;
    for (const x of series) if (x !== null && Number.isFinite(x)) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
  }
  if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
  const values = data.thresholds.map((th) => th.value).filter(Number.isFinite).sort((a, b) => a - b);
  const above = values.find((v) => v >= hi);
  if (above !== undefined) hi = above;
  else if (values.length && values[values.length - 1] < lo) lo = values[values.length - 1];
  const span = hi - lo || Math.abs(hi) || 1;
  return [lo - span * 0.06, hi + span * 0.1];
}

/** The bands of the thresholds between lo and hi: each level from its threshold to the
 * next level's (or the edge of the chart), whichever way the levels grow.
 * @param {Array<{level: number, value: number}>} thresholds @param {number} lo @param {number} hi
 * @returns {Array<{level: number, from: number, to: number}>} */
export function bands(thresholds, lo, hi) {
  const sorted = [...thresholds].filter((th) => th.level >= 1 && th.level <= 4 && Number.isFinite(th.value)).sort((a, b) => a.level - b.level);
  if (!sorted.length) return [];
  const rising = sorted.length < 2 || sorted[sorted.length - 1].value >= sorted[0].value;
  const out = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i].value;
    const next = sorted[i + 1]?.value ?? (rising ? Infinity : -Infinity);
    const from = Math.max(Math.min(start, next), lo);
    const to = Math.min(Math.max(start, next), hi);
    if (to > from) out.push({ level: sorted[i].level, from, to });
  }
  return out;
}

export class HistoryChart {
  /** @param {{windows: string[], window: string, onWindow: (w: string) => void}} options */
  constructor({ windows, window, onWindow }) {
    this.window = window;
    this.title = el('span', { class: 'history-title' });
    this.source = el('span', { class: 'history-source' });
    this.buttons = windows.map((w) => el('button', {
      class: 'history-window', dataset: { window: w }, 'aria-pressed': String(w === window),
      onclick: () => { this.setWindow(w); onWindow(w); },
    }, t(`window${w}`)));
    this.box = el('div', { class: 'history-chart', id: 'history-chart' });
    this.empty = el('div', { class: 'history-empty', hidden: true }, t('noHistory'));
    this.node = el('div', { class: 'history' }, [
      el('div', { class: 'history-head' }, [this.title, el('span', { class: 'history-windows' }, this.buttons)]),
      el('div', { class: 'history-body' }, [this.box, this.empty]),
      this.source,
    ]);
    /** @type {echarts.ECharts | null} */
    this.chart = null;
    /** @type {ChartData | null} */
    this.data = null;
    this.observer = new ResizeObserver(() => this.chart?.resize());
    this.observer.observe(this.box);
  }

  /** @param {string} w */
  setWindow(w) {
    this.window = w;
    for (const b of this.buttons) b.setAttribute('aria-pressed', String(b.dataset.window === w));
  }

  /** @param {string} label the field's name and unit */
  setTitle(label) {
    setText(this.title, label);
  }

  /** Draw `data` (the chart is made on the first draw, once the box is in the page).
   * @param {ChartData} data */
  draw(data) {
    this.data = data;
    const points = data.t.length;
    this.empty.hidden = points > 0;
    const since = data.t.length && data.t[0] > data.from ? ` · ${t('dataSince')} ${clock(data.t[0])}` : '';
    const source = t(`source_${data.source}`);
    const truth = data.truth ? ` · ${t('truthSeries')}` : '';
    setText(this.source, `${source} · ${points} ${t('points')}${since}${truth}`);
    this.node.dataset.source = data.source;
    this.node.dataset.points = String(points);
    this.node.dataset.truth = String(data.truth?.t.length ?? 0);
    if (!this.box.isConnected) return;
    if (!this.chart) this.chart = echarts.init(this.box, null, { renderer: 'canvas' });
    this.chart.setOption(this.option(data), { notMerge: true, lazyUpdate: false });
  }

  /** @param {ChartData} data */
  option(data) {
    const r = rem();
    const [lo, hi] = valueRange(data);
    const ms = (/** @type {number} */ s) => s * 1000;
    const start = data.t.length ? Math.max(data.from, data.t[0]) : data.from;
    const long = data.to - start > 86400;
    /** @param {Array<number | null>} values */
    const pairs = (values) => data.t.map((time, i) => [ms(time), values[i]]);
    const labelFont = { fontSize: Math.round(r * 0.95), color: INK, fontWeight: 700 };
    const markArea = {
      silent: true,
      data: bands(data.thresholds, lo, hi).map((b) => [
        { yAxis: b.from, itemStyle: { color: LEVEL_COLOURS[b.level], opacity: 0.18 },
          label: { show: true, position: 'insideTopLeft', formatter: ROMAN[b.level], color: LEVEL_COLOURS[b.level], fontSize: Math.round(r * 0.9), fontWeight: 800 } },
        { yAxis: b.to },
      ]),
    };
    const thresholdLines = data.thresholds.filter((th) => th.value >= lo && th.value <= hi).map((th) => ({
      yAxis: th.value,
      lineStyle: { color: LEVEL_COLOURS[th.level], type: 'dashed', width: 2 },
      label: { formatter: formatValue(th.value, ''), position: 'end', color: LEVEL_COLOURS[th.level], fontSize: Math.round(r * 0.85) },
    }));
    const alarmLines = data.alarms.filter((a) => a.t >= start && a.t <= data.to).map((a) => ({
      xAxis: ms(a.t),
      lineStyle: { color: LEVEL_COLOURS[a.level], type: 'solid', width: 3 },
      label: {
        formatter: ROMAN[a.level] || String(a.level), position: 'end', fontSize: Math.round(r * 0.85), fontWeight: 800,
        color: LEVEL_INK[a.level], backgroundColor: LEVEL_COLOURS[a.level], padding: [2, 5], borderRadius: 3,
      },
    }));
    /** @type {any[]} */
    const series = [];
    if (data.min && data.max) {
      const { min, max } = data;
      // The min..max band: an invisible line at min and the span above it, stacked.
      series.push({ type: 'line', name: 'min', data: pairs(min), stack: 'band', symbol: 'none', lineStyle: { opacity: 0 }, silent: true, tooltip: { show: false } });
      series.push({
        type: 'line', name: 'max', stack: 'band', symbol: 'none', lineStyle: { opacity: 0 }, silent: true, tooltip: { show: false },
        areaStyle: { color: LINE, opacity: 0.25 },
        data: data.t.map((time, i) => [ms(time), max[i] !== null && min[i] !== null ? /** @type {number} */ (max[i]) - /** @type {number} */ (min[i]) : null]),
      });
    }
    series.push({
      type: 'line', name: 'value', data: pairs(data.v), showSymbol: data.t.length < 60, symbolSize: 7, sampling: 'lttb',
      lineStyle: { color: LINE, width: 3 }, itemStyle: { color: LINE }, connectNulls: false,
      markArea, markLine: { silent: true, symbol: ['none', 'none'], animation: false, data: [...thresholdLines, ...alarmLines] },
    });
    if (data.truth) {
      const truth = data.truth;
      // held until the next sample: the step turns at each new value
      series.push({
        type: 'line', name: t('truthTrue'), step: 'end', symbol: 'none', connectNulls: false,
        data: truth.t.map((time, i) => [ms(time), truth.v[i]]),
        lineStyle: { color: TRUE, width: 2.5, type: 'dashed' }, itemStyle: { color: TRUE },
        endLabel: { show: true, formatter: t('truthTrue'), color: TRUE, fontSize: Math.round(r * 0.9), fontWeight: 700 },
      });
    }
    return {
      animation: false,
      backgroundColor: 'transparent',
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily, color: INK },
      grid: { left: Math.round(r * 4.2), right: Math.round(r * 3.2), top: Math.round(r * 1.2), bottom: Math.round(r * 2.2) },
      tooltip: {
        trigger: 'axis', textStyle: { fontSize: Math.round(r * 1.0) }, backgroundColor: 'rgba(5, 9, 16, 0.92)', borderColor: GRID,
        valueFormatter: (/** @type {any} */ v) => formatValue(v, data.unit),
      },
      xAxis: {
        type: 'time', min: ms(start), max: ms(data.to),
        axisLabel: { ...labelFont, fontWeight: 400, color: MUTED, hideOverlap: true, formatter: (/** @type {number} */ v) => (long ? dateClock(v / 1000).slice(5, 16) : clock(v / 1000).slice(0, 5)) },
        axisLine: { lineStyle: { color: GRID } }, splitLine: { show: false },
      },
      yAxis: {
        type: 'value', min: lo, max: hi, scale: true,
        // the top is the range's own edge, rarely a round number: its label would read as a tick
        axisLabel: { ...labelFont, fontWeight: 400, color: MUTED, showMaxLabel: false, formatter: (/** @type {number} */ v) => formatValue(v, '') },
        splitLine: { lineStyle: { color: GRID, opacity: 0.6 } },
      },
      series,
    };
  }

  /** For tests and diagnostics: what the chart holds and how many of its points were
   * drawn inside the plot (each data point converted to a pixel of the grid). */
  info() {
    const data = this.data;
    if (!data) return null;
    let drawn = 0;
    const chart = this.chart;
    if (chart) {
      // the plot's corners in pixels (a point on its edge is drawn: half a pixel of slack)
      const option = /** @type {any} */ (chart.getOption());
      const [xAxis, yAxis] = [option.xAxis[0], option.yAxis[0]];
      const [left, bottom] = chart.convertToPixel({ gridIndex: 0 }, [xAxis.min, yAxis.min]);
      const [right, top] = chart.convertToPixel({ gridIndex: 0 }, [xAxis.max, yAxis.max]);
      for (let i = 0; i < data.t.length; i++) {
        const v = data.v[i];
        if (v === null) continue;
        const [x, y] = chart.convertToPixel({ gridIndex: 0 }, [data.t[i] * 1000, v]);
        if (x >= left - 0.5 && x <= right + 0.5 && y >= top - 0.5 && y <= bottom + 0.5) drawn += 1;
      }
    }
    return {
      source: data.source, window: this.window, points: data.t.length, drawn, from: data.from, to: data.to, truth: data.truth?.t.length ?? 0,
      thresholds: data.thresholds.length, alarms: data.alarms.length, canvas: Boolean(this.box.querySelector('canvas')),
      width: this.box.clientWidth, height: this.box.clientHeight,
    };
  }

  dispose() {
    this.observer.disconnect();
    this.chart?.dispose();
    this.chart = null;
  }
}
