// The dashboard's charts, from the figures in #chart-data.
const D = zuoxi.data('chart-data');
new Chart(document.getElementById('bands'), {type: 'bar', data: {labels: D.bands.map(b => b[0]), datasets: [{label: '会话数', data: D.bands.map(b => b[1]), backgroundColor: '#5b8def'}]}, options: {plugins: {legend: {display: false}}}});
new Chart(document.getElementById('trend'), {type: 'line', data: {labels: D.trend.map(t => t[0]), datasets: [{label: '平均分', data: D.trend.map(t => t[1]), borderColor: '#2a9d8f'}]}, options: {scales: {y: {min: 0, max: 100}}}});
const radarSelect = document.getElementById('radar-agent');
let radar;
function drawRadar() {
  // The core skills always; a soft skill only where this agent showed it (a 0 there is no evidence, not a score).
  const p = D.profiles[radarSelect.value] || {};
  const keys = Object.keys(p).filter(k => D.core_skills.includes(k) || p[k] > 0);
  if (radar) radar.destroy();
  radar = new Chart(document.getElementById('radar'), {
    type: 'radar',
    data: {labels: keys.map(k => D.skill_names[k] || k),
           datasets: [{label: '坐席 ' + radarSelect.value, data: keys.map(k => Math.round(p[k] * 100)), backgroundColor: 'rgba(91,141,239,0.2)', borderColor: '#5b8def'}]},
    options: {maintainAspectRatio: false, scales: {r: {min: 0, max: 100, ticks: {stepSize: 25, backdropColor: 'transparent'}, pointLabels: {font: {size: 14}}}}},
  });
}
if (radarSelect.options.length) { radarSelect.addEventListener('change', drawRadar); drawRadar(); }
