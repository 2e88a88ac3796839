// The confab browser client: signaling over /ws (docs/protocol.md) and one RTCPeerConnection
// in confab's fixed media layout: microphone up / mix down, camera up, screen up, six video
// slots and the screen slot down. The service says which participant is in which slot
// (media_slots); nothing is ever renegotiated. A network drop is ridden out: a dropped
// WebSocket is re-opened as the same device (its `endpoint`) and gets the call back; media
// that stops arriving is replaced by a fresh peer connection offered into the same call.
'use strict';
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const VIDEO_SLOTS = 6;
const state = {
  ws: null, nextId: 1, pending: new Map(), identity: null, callId: null, me: null,
  roster: new Map(), pc: null, mic: null, camera: null, screen: null, muted: false,
  transceivers: null, slots: new Map(), dominant: [], levels: [], ended: null, incoming: null,
  credentials: null, welcomed: false, linkDown: false, mediaDown: false, restarting: false,
  reconnects: 0, dropSince: null, group: null, nodes: [], rejoin: false, rejoins: 0,
  // A 1:1 call: the other side, and whether this page placed it (it is resumed if its node dies).
  oneToOne: null, resume: false,
};
// This tab's device id: a WebSocket re-opened with it gets the tab's calls back.
// Kept in sessionStorage where the page may use it (a sandboxed or third-party frame may
// not: then per page load).
const ENDPOINT = (() => {
  const fresh = `page-${Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('')}`;
  try {
    let e = sessionStorage.getItem('confab-endpoint');
    if (!e) { e = fresh; sessionStorage.setItem('confab-endpoint', e); }
    return e;
  } catch { return fresh; }
})();
// How long a drop is ridden out before the call is given up; how long media may be silent.
const RECONNECT_FOR_MS = 30000;
const MEDIA_TIMEOUT_MS = 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
window.confabResult = null;

function status(text) { $('status').textContent = text; console.log('status', text); }

function request(message) {
  if (state.ws?.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected'));
  const id = state.nextId++;
  state.ws.send(JSON.stringify({ v: 1, id, ...message }));
  return new Promise((resolve, reject) => state.pending.set(id, { resolve, reject }));
}

// Names outlive roster entries: someone who just left is still named in what they sent.
const names = new Map();
const nameOf = (pid) => state.roster.get(pid)?.display_name ?? names.get(pid) ?? `#${pid}`;

function renderRoster() {
  $('roster').replaceChildren(...[...state.roster.values()].map((p) => {
    const li = document.createElement('li');
    li.dataset.participant = p.participant;
    if (state.dominant[0] === p.participant) li.className = 'speaking';
    const icons = `${p.muted ? ' 🔇' : ''}${p.video ? ' 🎥' : ''}${p.screen_sharing ? ' 🖥' : ''}`;
    li.textContent = `${p.display_name}${p.participant === state.me ? ' (you)' : ''}${icons} `;
    const s = document.createElement('span');
    s.className = 'state';
    s.textContent = p.state;
    li.append(s);
    return li;
  }));
  renderSlots();
}

function renderSlots() {
  for (const [mid, slot] of state.slots) {
    const tile = document.querySelector(`[data-mid="${mid}"]`);
    if (!tile) continue;
    tile.hidden = slot.participant === undefined;
    tile.classList.toggle('speaking', slot.participant !== undefined && slot.participant === state.dominant[0]);
    tile.querySelector('figcaption').textContent = slot.participant === undefined ? '' : nameOf(slot.participant);
  }
}

function endCall(reason) {
  state.ended = reason ?? null;
  state.linkDown = state.mediaDown = false;
  state.dropSince = null;
  $('in-call').hidden = true;
  $('start-call').hidden = false;
  $('dial').hidden = false;
  $('add-number').hidden = true;
  for (const t of [state.mic, state.camera, state.screen]) t?.stop();
  state.pc?.close();
  state.pc = null;
  state.callId = null;
  state.group = null;
  state.oneToOne = null;
  clearTimeout(state.resumeTimer);
}

async function onEvent(m) {
  switch (m.type) {
    case 'roster': state.me = m.you; state.roster = new Map(m.participants.map((p) => [p.participant, p])); m.participants.forEach((p) => names.set(p.participant, p.display_name)); renderRoster(); subscribeTiles(); break;
    case 'roster_update':
      for (const p of m.updated ?? []) { state.roster.set(p.participant, p); names.set(p.participant, p.display_name); }
      for (const d of m.removed ?? []) state.roster.delete(d.participant);
      renderRoster(); subscribeTiles(); break;
    case 'call_state':
      if (m.call_id !== state.callId) break;
      state.callState = m.state;
      status(`Call ${m.state}${m.reason ? `: ${m.reason.text} (${m.reason.code}/${m.reason.subcode})` : ''}`);
      if (m.state === 'disconnected') endCall(m.reason);
      break;
    case 'incoming_call':
      // The call resuming the 1:1 call this page answered, lost with its node: answered
      // without asking, if it comes from the same caller.
      if (m.resumes && m.resumes === state.callId && state.oneToOne && !state.oneToOne.caller && m.from === state.oneToOne.peer) {
        await answerResumed(m.call_id);
        break;
      }
      state.incoming = m;
      $('incoming-text').textContent = `${m.from_name} (${m.from}) is calling${m.group ? ' you into a group call' : ''}.`;
      $('incoming').hidden = false;
      if (params.get('answer') === '1') accept().catch((e) => status(`Failed: ${e.message}`));
      break;
    case 'incoming_call_ended':
      if (state.incoming?.call_id === m.call_id) { state.incoming = null; $('incoming').hidden = true; status(`Missed call: ${m.reason.text}`); }
      break;
    case 'welcome':
      // Every welcome after the first is a reconnect: is the call still ours?
      if (state.welcomed && state.callId) {
        if ((m.resumed ?? []).includes(state.callId)) { state.linkDown = false; settle(); }
        // A group call not given back after its node was lost (a cluster's): join it again.
        else if (state.group && state.nodeLost) state.rejoin = true;
        // A 1:1 call lost with its node: placed again by its caller, answered by its callee.
        else if (state.oneToOne && state.nodeLost) state.resume = true;
        else { status('The call ended while the connection was down.'); endCall({ text: 'The connection was lost', code: 410 }); }
      }
      state.welcomed = true;
      state.nodeLost = state.closedNodeLost = false;
      break;
    case 'sdp_answer': await state.pc?.setRemoteDescription({ type: 'answer', sdp: withOpusBitrate(m.sdp) }); break;
    case 'media_slots':
      state.slots = new Map(m.slots.map((s) => [s.mid, s]));
      renderSlots(); break;
    case 'dominant_speakers': state.dominant = m.speakers; renderRoster(); break;
    case 'muted_by': setMuted(true, false); status(`${nameOf(m.by)} muted you.`); break;
    case 'dtmf': state.dtmfIn = (state.dtmfIn ?? '') + m.digit; status(`${nameOf(m.participant)} pressed ${m.digit}`); break;
    case 'error': console.warn('server error', m.code, m.message); break;
    default: break;
  }
}

// The signaling WebSocket URL of a node's base URL (this page's own by default).
function wsUrl(base) {
  const u = new URL(base);
  return `${u.protocol === 'https:' ? 'wss' : 'ws'}://${u.host}/ws`;
}

// The other nodes of this service's cluster, to reconnect through if this one goes away
// (none without a cluster, or behind a load balancer that hides them).
async function learnNodes() {
  try {
    const r = await (await fetch('/v1/cluster')).json();
    state.nodes = (r.nodes ?? []).filter((u) => new URL(u).origin !== location.origin);
  } catch { state.nodes = []; }
}

function connect(identity, token, base = location.origin) {
  state.credentials = { identity, token };
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(base));
    state.ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.re !== undefined && state.pending.has(m.re)) {
        const { resolve: ok, reject: fail } = state.pending.get(m.re);
        state.pending.delete(m.re);
        if (m.type === 'error') fail(new Error(`${m.code}: ${m.message}`)); else ok(m);
      } else onEvent(m).catch((err) => console.error(err));
    };
    ws.onopen = () => request({ type: 'hello', identity, token, display_name: $('name').value, endpoint: ENDPOINT }).then(resolve, reject);
    ws.onerror = () => reject(new Error('signaling connection failed'));
    ws.onclose = (event) => {
      reject(new Error('signaling connection closed'));
      // 1012: the node relaying this page's call lost the node hosting it.
      if (event.code === 1012) state.closedNodeLost = true;
      if (state.ws !== ws) return;
      for (const { reject: fail } of state.pending.values()) fail(new Error('connection lost'));
      state.pending.clear();
      if (state.welcomed) reconnectSignaling();
      else status('Signaling connection closed.');
    };
  });
}

// A drop began (signaling or media): say so once.
function dropped(what) {
  if (what === 'link') state.linkDown = true; else state.mediaDown = true;
  if (state.dropSince === null && state.callId) {
    state.dropSince = Date.now();
    status('Reconnecting...');
    console.log(`reconnecting (${what}) at ${Date.now() % 100000}`);
  }
}

// Both are back: the drop is over.
function settle() {
  if (state.dropSince !== null && !state.linkDown && !state.mediaDown) {
    state.dropSince = null;
    state.reconnects += 1;
    status('Reconnected.');
    console.log(`reconnected at ${Date.now() % 100000}`);
  }
}

// Re-opens the WebSocket as the same device, backing off from 100 ms to 2 s, for up to 30 s:
// through this page's node, or in turn the cluster's others.
async function reconnectSignaling() {
  if (state.linkDown && state.reconnectingLink) return;
  state.reconnectingLink = true;
  dropped('link');
  const started = Date.now();
  const bases = [location.origin, ...state.nodes];
  for (let attempt = 0, wait = 100; Date.now() - started < RECONNECT_FOR_MS; attempt++, wait = Math.min(wait * 2, 2000)) {
    await sleep(wait);
    const base = bases[attempt % bases.length];
    // Back only through another node: this page's own is gone.
    state.nodeLost = state.closedNodeLost || base !== location.origin;
    try {
      await connect(state.credentials.identity, state.credentials.token, base);
      console.log(`signaling back through ${base}`);
      state.reconnectingLink = false;
      if (!state.callId) { state.linkDown = false; status('Signed in again.'); }
      if (state.rejoin) await rejoinGroup();
      if (state.resume) await resumeOneToOne();
      return;
    } catch (e) { console.log('reconnect failed', e.message); }
  }
  state.reconnectingLink = false;
  status('Signaling connection lost.');
  if (state.callId) endCall({ text: 'The connection was lost', code: 410 });
}

// The group's call was not given back after a reconnect: join the group again (on a live
// node; the cluster needs a few seconds to see a dead one as dead), and offer media anew
// when it is a fresh instance of the call.
async function rejoinGroup() {
  state.rejoin = false;
  const started = Date.now();
  while (state.callId && Date.now() - started < RECONNECT_FOR_MS) {
    try {
      const joined = await request({ type: 'create_call', group_id: state.group, lobby: false, video: !!state.camera });
      if (joined.call_id !== state.callId) {
        console.log(`rejoined the group's call as ${joined.call_id}`);
        tookOver(joined.call_id);
      } else {
        state.linkDown = false;
        settle();
      }
      return;
    } catch (e) {
      console.log('rejoining failed', e.message);
      await sleep(500);
    }
  }
  if (state.callId) endCall({ text: 'The connection was lost', code: 410 });
}

// A 1:1 call not given back after its node was lost: its caller places it again naming the
// lost call (the callee's side answers by itself); its callee waits for that call to ring.
async function resumeOneToOne() {
  state.resume = false;
  const lost = state.callId;
  if (!state.oneToOne.caller) {
    status('The call was lost with its node; waiting for the other side to call again...');
    state.resumeTimer = setTimeout(() => {
      if (state.callId === lost) endCall({ text: 'The connection was lost', code: 410 });
    }, 15000);
    return;
  }
  try {
    const placed = await request({ type: 'place_call', to: state.oneToOne.peer, video: !!state.camera, resumes: lost });
    console.log(`resumed the 1:1 call as ${placed.call_id}`);
    tookOver(placed.call_id);
  } catch (e) {
    console.log('resuming failed', e.message);
    endCall({ text: 'The connection was lost', code: 410 });
  }
}

// Answers the call that resumes this page's lost 1:1 call.
async function answerResumed(callId) {
  clearTimeout(state.resumeTimer);
  state.resume = false;
  try {
    await request({ type: 'accept_call', call_id: callId, video: !!state.camera });
    console.log(`answered the call resuming the 1:1 call: ${callId}`);
    tookOver(callId);
  } catch (e) {
    console.log('answering the resumed call failed', e.message);
    endCall({ text: 'The connection was lost', code: 410 });
  }
}

// The call goes on as `callId` (a new call on a live node): offer media there.
function tookOver(callId) {
  state.callId = callId;
  state.rejoins += 1;
  state.levelsAtRejoin = state.levels.length;
  state.linkDown = false;
  status('The call goes on on another node; reconnecting media...');
  restartMedia();
}

// Signs in: with ?identity=&token= as given, else as a guest of this server.
async function signIn() {
  if (state.identity) return;
  let identity = params.get('identity');
  let token = params.get('token');
  if (!identity || !token) {
    status('Getting a guest identity...');
    const guest = await (await fetch('/v1/guest', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ display_name: $('name').value }) })).json();
    if (!guest.token) throw new Error(guest.message ?? 'no guest token');
    ({ identity, token } = guest);
  }
  await connect(identity, token);
  state.identity = identity;
  $('me').textContent = identity;
  $('sign-in').hidden = true;
  $('start-call').hidden = false;
  $('dialpad').hidden = false;
  status('Signed in. Start or join a call, or wait for one.');
}

function listen(track) {
  // The <audio> element plays the mix; WebAudio measures it (level meter and tests).
  const stream = new MediaStream([track]);
  $('mix').srcObject = stream;
  if (state.analysis) {
    // A replacement connection: the same meter, the new track.
    state.analysis.source.disconnect();
    state.analysis.source = state.analysis.ctx.createMediaStreamSource(stream);
    state.analysis.source.connect(state.analysis.analyser);
    return;
  }
  const ctx = new AudioContext();
  ctx.resume();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  const source = ctx.createMediaStreamSource(stream);
  source.connect(analyser);
  state.analysis = { ctx, analyser, source };
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
    $('level').value = Math.max(0, level + 80);
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

async function fillDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [select, kind] of [[$('mic-device'), 'audioinput'], [$('camera-device'), 'videoinput']]) {
    const current = select.value;
    select.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || `${kind} ${i + 1}`;
      return o;
    }));
    if (current) select.value = current;
  }
}

// Simulcast (`?simulcast=1`): the camera at 640x360 in two layers, half and full size;
// the service forwards each viewer the layer that fits its box (docs/protocol.md).
const SIMULCAST = params.get('simulcast') === '1';
// `?tile=WxH`: the largest picture this page wants of anyone's camera; the service then
// sends the simulcast layer that fits (subscribe_video with that box).
const TILE = /^(\d+)x(\d+)$/.exec(params.get('tile') ?? '');
const tileSubscribed = new Set();

async function subscribeTiles() {
  if (!TILE || !state.callId) return;
  for (const p of state.roster.values()) {
    if (p.participant === state.me || tileSubscribed.has(p.participant)) continue;
    tileSubscribed.add(p.participant);
    await request({ type: 'subscribe_video', call_id: state.callId, participant: p.participant, max_width: Number(TILE[1]), max_height: Number(TILE[2]) })
      .catch((e) => { tileSubscribed.delete(p.participant); console.log('subscribe_video', e.message); });
  }
}

async function openCamera() {
  const deviceId = $('camera-device').value;
  const size = SIMULCAST ? { width: 640, height: 360 } : { width: 320, height: 240 };
  const [track] = (await navigator.mediaDevices.getUserMedia({ video: { ...size, frameRate: 15, ...(deviceId ? { deviceId: { exact: deviceId } } : {}) } })).getVideoTracks();
  return track;
}

// "Original sound" (?sound=original, or the checkbox): the microphone as it is — no echo
// cancellation, noise suppression or automatic gain — sent at a music bit rate. The default
// keeps the processing, which is right for loudspeakers but halves the fidelity of a voice
// (PESQ-WB about 1.6 against 4.3 measured through the service).
const ORIGINAL_SOUND_BITRATE = 96000;
const originalSound = () => $('original-sound').checked;

function micConstraints(deviceId) {
  const device = deviceId ? { deviceId: { exact: deviceId } } : {};
  if (!originalSound()) return Object.keys(device).length ? device : true;
  return { ...device, echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 };
}

// The service's answer says how much Opus it takes from us: ask for more in original sound.
function withOpusBitrate(sdp) {
  if (!originalSound()) return sdp;
  const pt = /a=rtpmap:(\d+) opus\/48000/i.exec(sdp)?.[1];
  if (!pt) return sdp;
  return sdp.replace(new RegExp(`(a=fmtp:${pt} [^\r\n]*)`), (line) => (line.includes('maxaveragebitrate') ? line : `${line};maxaveragebitrate=${ORIGINAL_SOUND_BITRATE}`));
}

// One peer connection in the fixed layout (docs/protocol.md, "Media layout").
async function startMedia(wantVideo) {
  const deviceId = $('mic-device').value;
  state.mic = (await navigator.mediaDevices.getUserMedia({ audio: micConstraints(deviceId) })).getAudioTracks()[0];
  state.mic.enabled = !state.muted;
  if (wantVideo) state.camera = await openCamera().catch(() => null);
  await fillDevices();
  await offerPeer();
  watchMedia();
  $('camera').textContent = state.camera ? 'Camera off' : 'Camera on';
  $('start-call').hidden = true;
  $('incoming').hidden = true;
  $('in-call').hidden = false;
  $('dial').hidden = true;
  $('add-number').hidden = false;
}

// Makes the call's peer connection with the tracks we send and offers it (a second offer
// in the same call replaces the first: how media comes back after a drop).
async function offerPeer() {
  state.pc?.close();
  const pc = new RTCPeerConnection();
  state.pc = pc;
  const audio = pc.addTransceiver(state.mic, { direction: 'sendrecv' });
  const camera = pc.addTransceiver(state.camera ?? 'video', {
    direction: 'sendonly',
    ...(SIMULCAST ? { sendEncodings: [{ rid: 'h', scaleResolutionDownBy: 2 }, { rid: 'f' }] } : {}),
  });
  const screen = pc.addTransceiver(state.screen ?? 'video', { direction: 'sendonly' });
  const video = [];
  for (let i = 0; i < VIDEO_SLOTS; i++) video.push(pc.addTransceiver('video', { direction: 'recvonly' }));
  const screenSlot = pc.addTransceiver('video', { direction: 'recvonly' });
  state.transceivers = { audio, camera, screen, video, screenSlot };
  listen(audio.receiver.track);
  pc.onconnectionstatechange = () => {
    console.log('media', pc.connectionState);
    if (pc !== state.pc) return;
    if (pc.connectionState === 'connected') { state.mediaDown = false; settle(); subscribeTiles(); }
    if (pc.connectionState === 'failed') restartMedia();
  };
  await pc.setLocalDescription(await pc.createOffer());
  // Tiles are keyed by mid (known once the offer is made).
  const tiles = video.map((t, i) => tile(t, `tile-${i}`));
  $('tiles').replaceChildren(...tiles);
  $('screen-view').replaceChildren(tile(screenSlot, 'screen-tile'));
  state.slots = new Map();
  await request({ type: 'sdp_offer', call_id: state.callId, sdp: pc.localDescription.sdp });
  return pc;
}

// The service sends the mix every 20 ms: mixed audio that stops arriving while connected
// (and not on hold) means the network dropped.
function watchMedia() {
  if (state.watching) return;
  state.watching = true;
  let last = { pc: null, packets: -1, since: Date.now() };
  const timer = setInterval(async () => {
    const pc = state.pc;
    if (!pc || !state.callId) { clearInterval(timer); state.watching = false; return; }
    if (state.restarting || pc.connectionState !== 'connected' || /hold/.test(state.callState ?? '')) {
      last = { pc, packets: -1, since: Date.now() };
      return;
    }
    let packets = 0;
    (await pc.getStats(state.transceivers.audio.receiver.track)).forEach((s) => {
      if (s.type === 'inbound-rtp') packets += s.packetsReceived ?? 0;
    });
    if (last.pc !== pc || packets !== last.packets) last = { pc, packets, since: Date.now() };
    else if (Date.now() - last.since >= MEDIA_TIMEOUT_MS) { last.since = Date.now(); restartMedia(); }
  }, 250);
}

// Offers new peer connections until one connects (each gets 1.5 s), while the drop lasts.
async function restartMedia() {
  if (state.restarting || !state.callId) return;
  state.restarting = true;
  dropped('media');
  try {
    while (state.callId && state.dropSince !== null && Date.now() - state.dropSince < RECONNECT_FOR_MS) {
      if (state.linkDown) { await sleep(200); continue; }
      console.log('offering a new media connection');
      const pc = await offerPeer().catch((e) => { console.log('offer failed', e.message); return null; });
      for (let waited = 0; pc && waited < 1500 && pc.connectionState !== 'connected' && pc.connectionState !== 'failed'; waited += 50) await sleep(50);
      if (pc?.connectionState === 'connected') break;
    }
    if (state.callId && state.mediaDown) {
      status('Media could not be restored.');
      await request({ type: 'leave', call_id: state.callId }).catch(() => {});
      endCall({ text: 'The connection was lost', code: 410 });
    }
  } finally {
    state.restarting = false;
  }
}

function tile(transceiver, id) {
  const figure = document.createElement('figure');
  figure.id = id;
  figure.dataset.mid = transceiver.mid;
  figure.hidden = true;
  const v = document.createElement('video');
  v.autoplay = true;
  v.muted = true;
  v.playsInline = true;
  v.srcObject = new MediaStream([transceiver.receiver.track]);
  figure.append(v, document.createElement('figcaption'));
  return figure;
}

async function joinGroup() {
  await signIn();
  const group = $('group').value.trim() || crypto.randomUUID();
  $('group').value = group;
  const wantVideo = params.get('video') !== '0' && $('with-video').checked;
  const joined = await request({ type: 'create_call', group_id: group, lobby: false, video: wantVideo });
  state.callId = joined.call_id;
  state.group = group;
  learnNodes();
  status('Joined; connecting media...');
  await startMedia(wantVideo);
}

async function placeCall() {
  await signIn();
  const to = $('callee').value.trim();
  const wantVideo = $('with-video').checked;
  const placed = await request({ type: 'place_call', to, video: wantVideo });
  state.callId = placed.call_id;
  // A phone's call lives with its SIP dialog: not resumed elsewhere.
  state.oneToOne = to.startsWith('4:') ? null : { peer: to, caller: true };
  learnNodes();
  status(`Calling ${to}...`);
  await startMedia(wantVideo);
}

// The dial pad: a `4:+E.164` identity from what was typed; keys are digits to dial, or DTMF
// toward the call's phones once in a call.
function phoneIdentity() {
  const digits = $('number').value.replace(/[\s\-().]/g, '').replace(/^\+/, '');
  if (!/^[1-9][0-9]{1,14}$/.test(digits)) throw new Error('a number in international form, like +49 30 5550100');
  return `4:+${digits}`;
}

async function dialNumber() {
  $('callee').value = phoneIdentity();
  await placeCall();
}

async function addNumber() {
  const identity = phoneIdentity();
  await request({ type: 'invite', call_id: state.callId, identity });
  status(`Dialling ${identity}...`);
}

async function pressKey(key) {
  const phones = [...state.roster.values()].some((p) => p.identity.startsWith('4:') && p.state !== 'idle');
  if (state.callId && phones) {
    await request({ type: 'send_dtmf', call_id: state.callId, digits: key });
    status(`Sent ${key}`);
  } else {
    $('number').value += key;
  }
}

async function accept() {
  const call = state.incoming;
  state.incoming = null;
  if (!call) return;
  const wantVideo = $('with-video').checked && params.get('video') !== '0';
  await request({ type: 'accept_call', call_id: call.call_id, video: wantVideo });
  state.callId = call.call_id;
  state.oneToOne = call.group || call.from.startsWith('4:') ? null : { peer: call.from, caller: false };
  learnNodes();
  status(`In a call with ${call.from_name}.`);
  await startMedia(wantVideo);
}

async function reject() {
  const call = state.incoming;
  state.incoming = null;
  $('incoming').hidden = true;
  if (call) await request({ type: 'reject_call', call_id: call.call_id });
}

async function setMuted(muted, tell = true) {
  state.muted = muted;
  if (state.mic) state.mic.enabled = !muted;
  $('mute').textContent = muted ? 'Unmute' : 'Mute';
  if (tell) await request({ type: 'mute_self', call_id: state.callId, muted });
}

async function toggleCamera() {
  const on = !state.camera;
  if (on) state.camera = await openCamera();
  else { state.camera.stop(); state.camera = null; }
  await state.transceivers.camera.sender.replaceTrack(state.camera);
  $('camera').textContent = on ? 'Camera off' : 'Camera on';
  await request({ type: 'video', call_id: state.callId, on });
}

// A moving canvas as the shared surface (automation, or where getDisplayMedia is refused).
function canvasSurface() {
  const canvas = document.createElement('canvas');
  canvas.width = 640;
  canvas.height = 360;
  const g = canvas.getContext('2d');
  let n = 0;
  setInterval(() => {
    g.fillStyle = '#234';
    g.fillRect(0, 0, 640, 360);
    g.fillStyle = '#fc3';
    g.fillRect((n * 7) % 600, 100, 40, 160);
    g.font = '32px sans-serif';
    g.fillText(`shared by ${$('name').value} · ${n++}`, 20, 50);
  }, 66);
  return canvas.captureStream(15).getVideoTracks()[0];
}

async function toggleShare() {
  if (state.screen) {
    state.screen.stop();
    state.screen = null;
  } else {
    if (params.get('share') === 'canvas') state.screen = canvasSurface();
    else {
      state.screen = (await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 } })).getVideoTracks()[0];
      state.screen.onended = () => { if (state.screen) toggleShare(); };
    }
  }
  await state.transceivers.screen.sender.replaceTrack(state.screen);
  $('share').textContent = state.screen ? 'Stop sharing' : 'Share screen';
  await request({ type: 'screen_share', call_id: state.callId, active: !!state.screen });
}

async function switchMic() {
  if (!state.mic) return;
  const deviceId = $('mic-device').value;
  const track = (await navigator.mediaDevices.getUserMedia({ audio: micConstraints(deviceId) })).getAudioTracks()[0];
  track.enabled = !state.muted;
  await state.transceivers.audio.sender.replaceTrack(track);
  state.mic.stop();
  state.mic = track;
}

async function switchCamera() {
  if (!state.camera) return;
  const track = await openCamera();
  await state.transceivers.camera.sender.replaceTrack(track);
  state.camera.stop();
  state.camera = track;
}

const report = (action) => () => action().catch((e) => status(`Failed: ${e.message}`));
$('sign-in').onclick = report(signIn);
$('join').onclick = report(joinGroup);
$('call').onclick = report(placeCall);
$('accept').onclick = report(accept);
$('reject').onclick = report(reject);
$('mute').onclick = report(() => setMuted(!state.muted));
$('camera').onclick = report(toggleCamera);
$('share').onclick = report(toggleShare);
$('mic-device').onchange = report(switchMic);
$('camera-device').onchange = report(switchCamera);
$('leave').onclick = report(() => request({ type: 'leave', call_id: state.callId }));
$('dial').onclick = report(dialNumber);
$('add-number').onclick = report(addNumber);
document.querySelectorAll('#dialpad [data-key]').forEach((b) => { b.onclick = report(() => pressKey(b.dataset.key)); });

// Automation (tests, demos): ?group=<uuid>&name=<name>&seconds=<n>[&expect=<k>][&share=canvas][&trace=1]
// joins at once (or, with ?answer=1, waits for a call and accepts it; with ?call=<identity>,
// places one), waits until k participants (default 2) are connected, listens n seconds,
// reports what it heard and saw in window.confabResult and sets the title to DONE.
async function automate(seconds, expect) {
  if (params.get('group')) await joinGroup();
  else if (params.get('call')) { $('callee').value = params.get('call'); await placeCall(); }
  else if (params.get('dial')) { $('number').value = params.get('dial'); await dialNumber(); }
  else await signIn();
  const connectedCount = () => [...state.roster.values()].filter((p) => p.state === 'connected').length;
  for (let waited = 0; !state.pc || connectedCount() < expect || state.pc.connectionState !== 'connected'; waited += 100) {
    if (waited > 30000) throw new Error(`only ${connectedCount()} of ${expect} participants connected`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (params.get('share')) await toggleShare();
  for (const key of params.get('dtmf') ?? '') await pressKey(key);
  // Measure from now on: everyone is in the call.
  state.levels = [];
  state.toneSums = (state.toneSums ?? []).map(() => 0);
  state.toneMax = (state.toneSums ?? []).map(() => -200);
  state.toneCount = 0;
  // With ?trace=1, every 100 ms: the decoded size and frame count of the busiest video
  // slot and the mixed audio's packets received and lost (what a viewer saw, over time).
  const trace = [];
  const sample = async () => {
    let video = null;
    let audio = null;
    (await state.pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video' && (s.framesDecoded ?? 0) > (video?.frames ?? -1)) video = { frames: s.framesDecoded ?? 0, w: s.frameWidth ?? 0, h: s.frameHeight ?? 0, keyframes: s.keyFramesDecoded ?? 0, received: s.framesReceived ?? 0, plis: s.pliCount ?? 0, nacks: s.nackCount ?? 0, videoLost: s.packetsLost ?? 0, videoPackets: s.packetsReceived ?? 0, bufferMs: s.jitterBufferEmittedCount ? Math.round(1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount) : 0 };
      if (s.kind === 'audio' && s.mid === state.transceivers.audio.mid) audio = { received: s.packetsReceived ?? 0, lost: s.packetsLost ?? 0 };
    });
    trace.push({ t: Date.now(), ...(video ?? { frames: 0, w: 0, h: 0 }), audioReceived: audio?.received ?? 0, audioLost: audio?.lost ?? 0 });
  };
  const tracer = params.get('trace') ? setInterval(() => { sample().catch(() => {}); }, 100) : null;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  if (tracer) clearInterval(tracer);
  const byMid = new Map();
  let srtpCipher = null;
  let audioSent = null;
  (await state.pc.getStats()).forEach((s) => {
    if (s.type === 'transport' && s.srtpCipher) srtpCipher = s.srtpCipher;
    if (s.type === 'outbound-rtp' && s.kind === 'audio') audioSent = { ...audioSent, bytes: s.bytesSent ?? 0, packets: s.packetsSent ?? 0, targetBitrate: s.targetBitrate ?? null };
    if (s.type === 'remote-inbound-rtp' && s.kind === 'audio') audioSent = { ...audioSent, reportedLost: s.packetsLost ?? null, fractionLost: s.fractionLost ?? null, reportedJitter: s.jitter ?? null, roundTripTime: s.roundTripTime ?? null };
    if (s.type === 'inbound-rtp' && s.kind === 'video') byMid.set(s.mid, { framesDecoded: s.framesDecoded ?? 0, frameWidth: s.frameWidth, frameHeight: s.frameHeight, keyFramesDecoded: s.keyFramesDecoded, freezeCount: s.freezeCount ?? 0, totalFreezesDuration: s.totalFreezesDuration ?? 0 });
  });
  const slotReport = (t) => ({ ...(byMid.get(t.mid) ?? { framesDecoded: 0 }), participant: state.slots.get(t.mid)?.participant ?? null, name: state.slots.get(t.mid)?.participant ? nameOf(state.slots.get(t.mid).participant) : null });
  const videoSlots = state.transceivers.video.map(slotReport);
  window.confabResult = {
    identity: state.identity,
    video: videoSlots.reduce((best, s) => (s.framesDecoded > (best?.framesDecoded ?? -1) ? s : best), null),
    videoSlots,
    screen: slotReport(state.transceivers.screenSlot),
    connection: state.pc.connectionState,
    srtpCipher,
    audioSent,
    originalSound: originalSound(),
    reconnects: state.reconnects,
    rejoins: state.rejoins,
    // Level windows (100 ms) with sound since the last rejoin (or the whole call).
    loudSinceRejoin: state.levels.slice(state.levelsAtRejoin ?? 0).filter((l) => l > -50).length,
    windows: state.levels.length,
    loudWindows: state.levels.filter((l) => l > -50).length,
    loudestDb: Math.max(-200, ...state.levels),
    roster: [...state.roster.values()].map((p) => ({ name: p.display_name, state: p.state, screen_sharing: p.screen_sharing })),
    toneDb: (state.toneSums ?? []).map((sum) => (state.toneCount ? sum / state.toneCount : -200)),
    toneMaxDb: state.toneMax ?? [],
    dtmfIn: state.dtmfIn ?? '',
    trace,
  };
  document.title = 'DONE';
}

if (params.get('name')) $('name').value = params.get('name');
if (params.get('sound') === 'original') $('original-sound').checked = true;

// A closed tab or a navigation away is a hang-up, not a lost connection: say leave and
// close the socket cleanly (the service ends the participation at once, instead of
// waiting out the reconnect grace and recording network_lost).
addEventListener('pagehide', () => {
  if (state.ws?.readyState !== WebSocket.OPEN) return;
  if (state.callId) state.ws.send(JSON.stringify({ v: 1, id: 0, type: 'leave', call_id: state.callId }));
  state.ws.close(1000, 'page closed');
});
if (params.get('group')) $('group').value = params.get('group');
const seconds = Number(params.get('seconds') ?? '0');
if (seconds) {
  automate(seconds, Number(params.get('expect') ?? '2')).catch((e) => { window.confabResult = { error: String(e) }; document.title = 'FAIL'; });
} else if (params.get('group')) {
  joinGroup().catch((e) => status(`Failed: ${e.message}`));
}
