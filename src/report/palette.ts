// Colours of the report, one per thing drawn, from Tableau 10 (readable on white and for the common
// colour-vision deficiencies when paired with the shapes used). The browser test looks for these exact
// values in the screenshot: the request and `total` colours each appear in one chart only, which is how it
// finds the timeline and the comparison chart.
export const palette = {
  request: '#4e79a7',
  transfer: '#a0cbe8',
  bytes: '#8cd17d',
  bytesEdge: '#59a14f',
  paused: '#bab0ac',
  frame: '#f28e2b',
  firstFrame: '#b6540a',
  inferRun: '#b07aa1',
  budget: '#fcd7d7',
  deadline: '#e15759',
  end: '#222222',
  summaryOnly: '#bab0ac',
  total: '#76b7b2',
  grid: '#e3e3e3',
  axis: '#555555',
  rowShade: '#f6f7f9',
} as const;
