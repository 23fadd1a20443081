// The training case page: replay, guided analysis and a drill against the simulated customer.
const CASE = zuoxi.data('case-id');
const {esc, post} = zuoxi;
const turns = [...document.querySelectorAll('#replay-turns .turn')];
let shown = 1;
document.getElementById('next-turn').onclick = () => { if (shown < turns.length) turns[shown++].hidden = false; };
document.getElementById('all-turns').onclick = () => { turns.forEach(t => t.hidden = false); shown = turns.length; };
document.getElementById('reveal').onclick = async () => {
  const d = (await (await fetch(`/api/training/cases/${encodeURIComponent(CASE)}?reveal=true`)).json()).debrief;
  const box = document.getElementById('debrief');
  box.innerHTML = d.answers.map(a => `<p><b>${esc(a.question)}</b><br>参考：${esc(a.answer)}</p>`).join('') +
    `<p><b>客户真正的诉求：</b>${esc(d.need)}</p><p><b>案例分析：</b>${esc(d.analysis)}</p>`;
  box.hidden = false;
};
let drill = null;
const chat = document.getElementById('chat');
function say(role, text, anger) {
  chat.insertAdjacentHTML('beforeend', `<div class="turn ${esc(role)}"><div class="who">${role === 'agent' ? '坐席' : '客户'}</div><div class="bubble">${esc(text)}${anger === undefined ? '' : ` <span class="muted">情绪 ${anger.toFixed(2)}</span>`}</div></div>`);
}
function finish(report) {
  document.getElementById('say').hidden = true;
  const names = {accepted: '客户接受，问题解决', accepted_alternative: '客户接受了替代方案', escalated: '客户要求找领导/投诉（失败）', gave_up: '客户放弃沟通（失败）'};
  document.getElementById('outcome').textContent = `${names[report.outcome] || '未完成'} · 得分 ${report.score}/${report.max_score}`;
  document.getElementById('failed').innerHTML = report.failed.map(f => `<li><b>${esc(f.rule)}</b> ${esc(f.message)}<br><span class="sugg">${esc(f.suggestion)}</span></li>`).join('');
  document.getElementById('best').innerHTML = report.best_solutions.map(b => `<li>答第${esc(b.turn)}句：${esc(b.reply)}<br><span class="muted">${esc(b.why)}</span></li>`).join('');
  document.getElementById('result').hidden = false;
  new Chart(document.getElementById('anger'), {type: 'line', data: {labels: report.anger.map((_, i) => i), datasets: [{label: '客户情绪', data: report.anger, borderColor: '#d9534f'}]}, options: {scales: {y: {min: 0, max: 1}}}});
}
document.getElementById('start').onclick = async () => {
  const started = await post('/api/training/drills', {case_id: CASE, seed: Math.floor(Math.random() * 1e6)});
  drill = started.drill_id; chat.innerHTML = ''; document.getElementById('result').hidden = true;
  say('customer', started.customer, started.anger);
  document.getElementById('say').hidden = false; document.getElementById('line').focus();
};
document.getElementById('say').onsubmit = async (event) => {
  event.preventDefault();
  const input = document.getElementById('line'); const text = input.value.trim(); if (!text) return;
  input.value = ''; say('agent', text);
  const answer = await post(`/api/training/drills/${drill}/turns`, {text});
  say('customer', answer.customer, answer.anger);
  if (answer.outcome) finish(answer.report);
};
document.getElementById('stop').onclick = async () => finish(await post(`/api/training/drills/${drill}/finish`));
