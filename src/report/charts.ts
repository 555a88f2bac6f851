/**
 * Charts for the HTML report, rendered on the server to SVG by Apache
 * ECharts (SSR: no DOM, no browser), so the page needs no script and no
 * network. ECharts escapes the text it draws. Floats appear only here, as
 * plot coordinates; every figure printed on the page is exact text.
 */
import * as echarts from 'echarts';

export interface Chart {
  /** Series drawn, for the page (and its test) to state. */
  series: number;
  svg: string;
}

const PALETTE = ['#2f6fbf', '#e0813a', '#3a9a5b', '#b5465a', '#7d5bb5', '#8c6d3f', '#c7589e', '#6b7b8c'];

function render(option: echarts.EChartsCoreOption, width: number, height: number, series: number): Chart {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ animation: false, color: PALETTE, textStyle: { fontFamily: 'sans-serif' }, ...option });
    return { series, svg: chart.renderToSVGString() };
  } finally {
    chart.dispose();
  }
}

/** Horizontal bars, one series per named part (e.g. used and idle cost), largest category on top. */
export function stackedBars(categories: readonly string[], parts: readonly { name: string; values: readonly number[] }[], currency: string): Chart {
  const height = Math.max(160, 60 + categories.length * 24);
  return render({
    grid: { left: 8, right: 24, top: 36, bottom: 28, containLabel: true },
    legend: { top: 4 },
    xAxis: { type: 'value', name: currency, nameLocation: 'middle', nameGap: 24, axisLabel: { hideOverlap: true } },
    yAxis: { type: 'category', data: [...categories].reverse(), axisLabel: { width: 220, overflow: 'truncate' } },
    series: parts.map((p) => ({ name: p.name, type: 'bar', stack: 'cost', data: [...p.values].reverse() })),
  }, 760, height, parts.length);
}

/** Lines over the days of the month, one series per model. */
export function dailyLines(days: readonly string[], lines: readonly { name: string; values: readonly (number | null)[] }[], unit: string): Chart {
  return render({
    grid: { left: 8, right: 24, top: 36 + 18 * Math.ceil(lines.length / 4), bottom: 8, containLabel: true },
    legend: { top: 4 },
    xAxis: { type: 'category', data: days.map((d) => d.slice(5)), boundaryGap: false },
    // Log scale: models' CPPs differ by orders of magnitude (an LLM vs a classifier).
    yAxis: { type: 'log', name: unit, axisLabel: { formatter: (v: number) => String(Number(v.toPrecision(3))) } },
    series: lines.map((l) => ({ name: l.name, type: 'line', showSymbol: false, connectNulls: false, data: l.values })),
  }, 760, 320, lines.length);
}
