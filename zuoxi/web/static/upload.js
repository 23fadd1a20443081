// The upload page: files picked or dropped are posted to /api/uploads, then the import job is polled.
const form = document.getElementById('upload');
let dropped = [];
form.addEventListener('dragover', (event) => { event.preventDefault(); form.classList.add('over'); });
form.addEventListener('dragleave', () => form.classList.remove('over'));
form.addEventListener('drop', (event) => {
  event.preventDefault(); form.classList.remove('over');
  dropped = [...event.dataTransfer.files];
  form.querySelector('p').textContent = dropped.map(f => f.name).join('、');
});
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = new FormData();
  for (const f of [...document.getElementById('files').files, ...dropped]) body.append('files', f);
  if (![...body.keys()].length) return;
  const res = await fetch('/api/uploads', {method: 'POST', body, headers: {'X-CSRF-Token': zuoxi.csrf()}});
  const answer = await res.json();
  const box = document.getElementById('progress'); box.hidden = false;
  if (!res.ok) { document.getElementById('status').textContent = '上传失败：' + answer.detail; return; }
  const job_id = answer.job_id;
  const names = {queued: '排队中', running: '导入中', done: '完成', failed: '失败'};
  async function poll() {
    const job = await (await fetch('/api/uploads/' + job_id)).json();
    document.getElementById('status').textContent = names[job.status] || job.status;
    document.getElementById('counts').textContent = `文件 ${job.files_done}/${job.files} · 会话 ${job.conversations}`;
    // a note (注意：…) left nothing out: shown plain, not in the errors' red
    document.getElementById('errors').innerHTML = job.errors.map(e => `<li${e.startsWith('注意：') ? ' class="note"' : ''}>${zuoxi.esc(e)}</li>`).join('');
    if (job.status === 'queued' || job.status === 'running') setTimeout(poll, 500);
  }
  poll();
});
