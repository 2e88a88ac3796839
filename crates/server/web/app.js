// The confab browser client: signaling over /ws (docs/protocol.md), one RTCPeerConnection
// carrying the microphone (and camera), receiving the call's one mixed audio stream.
'use strict';
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = { ws: null, nextId: 1, pending: new Map(), callId: null, me: null, roster: new Map(), pc: null, muted: false, levels: [], speaking: new Set(), ended: null };
window.confabResult = null;

function status(text) { $('status').textContent = text; console.log('status', text); }

function request(message) {
  const id = state.nextId++;
  state.ws.send(JSON.stringify({ v: 1, id, ...message }));
  return new Promise((resolve, reject) => state.pending.set(id, { resolve, reject }));
}

function renderRoster() {
  const list = $('roster');
  list.replaceChildren(...[...state.roster.values()].map((p) => {
    const li = document.createElement('li');
    li.dataset.participant = p.participant;
    li.className = state.speaking.has(p.participant) ? 'speaking' : '';
    li.textContent = `${p.display_name}${p.participant === state.me ? ' (you)' : ''} `;
    const s = document.createElement('span');
    s.className = 'state';
    s.textContent = `${p.state}${p.muted ? ', muted' : ''}${p.video ? ', video' : ''}${p.screen_sharing ? ', sharing' : ''}`;
    li.append(s);
    return li;
  }));
}

async function onEvent(m) {
  switch (m.type) {
    case 'roster': state.me = m.you; state.roster = new Map(m.participants.map((p) => [p.participant, p])); renderRoster(); break;
    case 'roster_update':
      for (const p of m.updated ?? []) state.roster.set(p.participant, p);
      for (const d of m.removed ?? []) state.roster.delete(d.participant);
      renderRoster(); break;
    case 'call_state':
      status(`Call ${m.state}${m.reason ? `: ${m.reason.text} (${m.reason.code}/${m.reason.subcode})` : ''}`);
      if (m.state === 'disconnected') { state.ended = m.reason; $('controls').hidden = true; }
      break;
    case 'sdp_answer': await state.pc.setRemoteDescription({ type: 'answer', sdp: m.sdp }); break;
    case 'dominant_speakers': state.speaking = new Set(m.speakers); renderRoster(); break;
    case 'error': console.warn('server error', m.code, m.message); break;
    default: break;
  }
}

function connect(identity, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    state.ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.re !== undefined && state.pending.has(m.re)) {
        const { resolve: ok, reject: fail } = state.pending.get(m.re);
        state.pending.delete(m.re);
        if (m.type === 'error') fail(new Error(`${m.code}: ${m.message}`)); else ok(m);
      } else onEvent(m).catch((err) => console.error(err));
    };
    ws.onopen = () => request({ type: 'hello', identity, token, display_name: $('name').value }).then(resolve, reject);
    ws.onerror = () => reject(new Error('signaling connection failed'));
    ws.onclose = () => status('Signaling connection closed.');
  });
}

function listen(stream) {
  // The <audio> element plays the mix; WebAudio measures it (for the level meter and tests).
  $('mix').srcObject = stream;
  const ctx = new AudioContext();
  ctx.resume();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  ctx.createMediaStreamSource(stream).connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  const spectrum = new Float32Array(analyser.frequencyBinCount);
  const tones = (params.get('tones') ?? '').split(',').filter(Boolean).map(Number);
  state.toneSums = tones.map(() => 0);
  state.toneCount = 0;
  setInterval(() => {
    analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    const level = 10 * Math.log10(sum / buf.length + 1e-12);
    state.levels.push(level);
    if (tones.length && level > -60) {
      // Energy near each tone: the loudest bin within ±2 bins of it.
      analyser.getFloatFrequencyData(spectrum);
      const hzPerBin = ctx.sampleRate / analyser.fftSize;
      tones.forEach((hz, i) => {
        const bin = Math.round(hz / hzPerBin);
        let best = -200;
        for (let b = bin - 2; b <= bin + 2; b++) best = Math.max(best, spectrum[b] ?? -200);
        state.toneSums[i] += best;
        if (state.toneMax) state.toneMax[i] = Math.max(state.toneMax[i], best);
      });
      state.toneCount += 1;
    }
  }, 100);
}

async function join() {
  $('start').disabled = true;
  status('Getting a guest identity...');
  const guest = await (await fetch('/v1/guest', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ display_name: $('name').value }) })).json();
  if (!guest.token) throw new Error(guest.message ?? 'no guest token');
  await connect(guest.identity, guest.token);
  const group = $('group').value.trim() || crypto.randomUUID();
  $('group').value = group;
  // Camera if there is one (and it is wanted), microphone always.
  let media;
  const wantVideo = params.get('video') !== '0';
  try {
    media = await navigator.mediaDevices.getUserMedia({ audio: true, video: wantVideo ? { width: 320, height: 240, frameRate: 15 } : false });
  } catch (e) {
    media = await navigator.mediaDevices.getUserMedia({ audio: true });
  }
  const hasVideo = media.getVideoTracks().length > 0;
  const joined = await request({ type: 'create_call', group_id: group, lobby: false, video: hasVideo });
  state.callId = joined.call_id;
  status('Joined; connecting media...');
  const pc = new RTCPeerConnection();
  state.pc = pc;
  for (const track of media.getTracks()) pc.addTrack(track, media);
  pc.ontrack = (e) => {
    if (e.track.kind === 'audio') listen(new MediaStream([e.track]));
    if (e.track.kind === 'video') {
      const tile = document.createElement('video');
      tile.autoplay = true;
      tile.muted = true;
      tile.playsInline = true;
      tile.srcObject = new MediaStream([e.track]);
      $('tiles').append(tile);
    }
  };
  pc.onconnectionstatechange = () => console.log('media', pc.connectionState);
  await pc.setLocalDescription(await pc.createOffer());
  await request({ type: 'sdp_offer', call_id: state.callId, sdp: pc.localDescription.sdp });
  $('controls').hidden = false;
}

$('start').onclick = () => join().catch((e) => { status(`Failed: ${e.message}`); $('start').disabled = false; });
$('mute').onclick = async () => {
  state.muted = !state.muted;
  for (const s of state.pc?.getSenders() ?? []) if (s.track?.kind === 'audio') s.track.enabled = !state.muted;
  await request({ type: 'mute_self', call_id: state.callId, muted: state.muted });
  $('mute').textContent = state.muted ? 'Unmute' : 'Mute';
};
$('leave').onclick = () => request({ type: 'leave', call_id: state.callId }).catch(() => {});

// Automation (tests, demos): ?group=<uuid>&name=<name>&seconds=<n>[&expect=<k>] joins at
// once, waits until k participants (default 2) are connected, listens n seconds, reports what
// it heard in window.confabResult and sets the title to DONE.
async function automate(seconds, expect) {
  await join();
  const connectedCount = () => [...state.roster.values()].filter((p) => p.state === 'connected').length;
  for (let waited = 0; connectedCount() < expect || state.pc.connectionState !== 'connected'; waited += 100) {
    if (waited > 30000) throw new Error(`only ${connectedCount()} of ${expect} participants connected`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // Measure from now on: everyone is in the call.
  state.levels = [];
  state.toneSums = (state.toneSums ?? []).map(() => 0);
  state.toneMax = (state.toneSums ?? []).map(() => -200);
  state.toneCount = 0;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  let video = null;
  (await state.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') video = { framesDecoded: s.framesDecoded ?? 0, frameWidth: s.frameWidth, keyFramesDecoded: s.keyFramesDecoded };
  });
  window.confabResult = {
    video,
    connection: state.pc.connectionState,
    windows: state.levels.length,
    loudWindows: state.levels.filter((l) => l > -50).length,
    loudestDb: Math.max(-200, ...state.levels),
    roster: [...state.roster.values()].map((p) => ({ name: p.display_name, state: p.state })),
    toneDb: (state.toneSums ?? []).map((sum) => (state.toneCount ? sum / state.toneCount : -200)),
    toneMaxDb: state.toneMax ?? [],
  };
  document.title = 'DONE';
}

if (params.get('group')) {
  $('group').value = params.get('group');
  $('name').value = params.get('name') ?? 'Guest';
  const seconds = Number(params.get('seconds') ?? '0');
  const expect = Number(params.get('expect') ?? '2');
  if (seconds) {
    automate(seconds, expect).catch((e) => { window.confabResult = { error: String(e) }; document.title = 'FAIL'; });
  } else {
    join().catch((e) => status(`Failed: ${e.message}`));
  }
}
