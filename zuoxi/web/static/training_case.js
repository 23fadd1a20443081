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
// Who plays the customer: the LLM until its first failure, then the offline engine for the rest of the drill.
function showBackend(b) {
  const box = document.getElementById('backend');
  box.textContent = b.failure ? `客户引擎：离线（LLM 出错已停用：${b.failure}；本次演练余下部分由离线引擎扮演客户）`
    : b.engine === 'llm' ? `客户引擎：LLM（${b.model}，出错即转离线）` : '客户引擎：离线';
  box.className = b.failure ? 'sugg' : 'muted'; box.hidden = false;
}
function finish(report) {
  document.getElementById('say').hidden = true; document.getElementById('closing').hidden = true;
  const names = {accepted: '客户接受，问题解决', accepted_alternative: '客户接受了替代方案', escalated: '客户要求找领导/投诉（失败）', gave_up: '客户放弃沟通（失败）'};
  // A drill the trainee said nothing in has no score (the server sends null and says why).
  document.getElementById('outcome').textContent = report.score === null ? report.note
    : `${names[report.outcome] || '未完成'} · 得分 ${report.score}/${report.max_score}`;
  document.getElementById('failed').innerHTML = report.failed.map(f => `<li><b>${esc(f.rule)}</b> ${esc(f.message)}<br><span class="sugg">${esc(f.suggestion)}</span></li>`).join('');
  document.getElementById('best').innerHTML = report.best_solutions.map(b => `<li>答第${esc(b.turn + 1)}句：${esc(b.reply)}<br><span class="muted">${esc(b.why)}</span></li>`).join('');
  document.getElementById('result').hidden = false;
  new Chart(document.getElementById('anger'), {type: 'line', data: {labels: report.anger.map((_, i) => i), datasets: [{label: '客户情绪', data: report.anger, borderColor: '#d9534f'}]}, options: {scales: {y: {min: 0, max: 1}}}});
}
document.getElementById('start').onclick = async () => {
  const started = await post('/api/training/drills', {case_id: CASE, seed: Math.floor(Math.random() * 1e6)});
  drill = started.drill_id; chat.innerHTML = ''; document.getElementById('result').hidden = true;
  showBackend(started.backend);
  say('customer', started.customer, started.anger);
  document.getElementById('say').hidden = false; document.getElementById('line').focus();
};
document.getElementById('say').onsubmit = async (event) => {
  event.preventDefault();
  const input = document.getElementById('line'); const text = input.value.trim(); if (!text) return;
  const answer = await post(`/api/training/drills/${drill}/turns`, {text});
  const box = document.getElementById('closing');
  if (answer.agent === undefined) {  // refused (or the drill is gone): the line stays in the box, and why is shown
    box.textContent = typeof answer.detail === 'string' ? answer.detail : '这一句没有发送，请重试。'; box.hidden = false;
    return;
  }
  // The line as the server keeps it: personal data masked (我的电话 *******5678), not as typed.
  input.value = ''; box.hidden = true; say('agent', answer.agent);
  showBackend(answer.backend);
  if (answer.customer) say('customer', answer.customer, answer.anger);
  if (answer.report) finish(answer.report);
  else if (answer.closing) {
    box.textContent = '客户已结束对话：请说一句结束语（致谢、询问是否还有其他需要、道别），或点“结束”。'; box.hidden = false;
  }
};
document.getElementById('stop').onclick = async () => finish(await post(`/api/training/drills/${drill}/finish`));
