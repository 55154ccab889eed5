/**
 * Every text users read, once for all platforms, in English, Spanish and Portuguese. Adapters never
 * build user-facing sentences themselves: they render what the core returns.
 */
import type { Language } from './intents.js';

export type Params = Readonly<Record<string, string | number>>;

const en = {
  'stage.queued': 'Queued',
  'stage.starting': 'Starting',
  'stage.loading': 'Loading model',
  'stage.sampling': 'Drawing',
  'stage.decoding': 'Finishing',
  'stage.uploading': 'Sending',
  'progress.position': '#{position} in line',
  'progress.eta': 'about {eta}',
  'progress.elapsed': '{elapsed} elapsed',
  queued: 'Queued #{position}{eta}. Type /cancel to stop it.',
  'queued.eta': ', about {eta}',
  'result.caption': '{prompt}\nseed {seed} · {style} · {seconds} s',
  'result.saved': 'Saved: {paths}',
  'result.failed': 'Could not make your image: {reason} Your quota was not charged.',
  'result.cancelled': 'Cancelled. Your quota was not charged.',
  'error.no_face': 'no face was found in the photo. Send a clear, front-facing photo of one face.',
  'error.out_of_memory': 'the GPU ran out of memory. Try fewer images or a smaller size.',
  'error.missing_model':
    'the GPU server lacks a model this style needs. Try another style; an operator has been told.',
  'error.missing_node': 'the GPU server lacks a node this style needs. Try another style.',
  'error.style_unavailable': 'no GPU server can run this style right now. Try another style (/styles).',
  'error.backend_unavailable': 'the GPU servers are not answering. Try again in a few minutes.',
  'error.timeout': 'it took too long.',
  'error.queued_timeout': 'the line was too long and the job waited too much. Try again later.',
  'error.reference_missing': 'the photo for this job has expired. Send it again.',
  'error.blob_cap': 'the bot is storing too many images right now. Try again in a few minutes.',
  'error.generic': 'the GPU server failed while drawing.',
  'refuse.banned': 'You are banned from making images here{until}.{reason}',
  'refuse.banned.until': ' until {until}',
  'refuse.daily_limit': 'You have used your {allowed} images for today. Your allowance resets in {resetIn}.',
  'refuse.too_many_active':
    'You already have {max} images in progress. Wait for one to finish or /cancel it.',
  'refuse.burst': 'Slow down a little: try again in {retryIn}.',
  'refuse.budget_exhausted': "Today's image budget for this bot is used up. It resets in {resetIn}.",
  'refuse.scope_not_allowed': 'This bot is not enabled for this server or group.',
  'refuse.queue_full': 'The line is full right now ({waiting} waiting). Try again in a few minutes.',
  'refuse.prompt_blocked': 'This prompt is not allowed here.',
  'refuse.style_not_allowed': 'The style "{style}" is not enabled here. Allowed: {styles}.',
  'refuse.unknown_style': 'There is no style "{style}". Available: {styles}.',
  'refuse.invalid_params': '{message}',
  'refuse.photo_required': 'Attach a photo of a face (or reply to one) with /portrait.',
  'refuse.photo_from_others': 'Portraits can only be made from your own photos here.',
  'refuse.photo': 'That photo cannot be used: {message}',
  'refuse.album': 'You sent several photos: I used the first one.',
  'refuse.not_yours': 'Only the person who asked (or a moderator) can use these buttons.',
  'refuse.expired': 'This result has expired; buttons work for {days} days. Start a new /imagine.',
  'refuse.no_previous': 'You have no earlier image here yet. Start with /imagine.',
  'refuse.not_moderator': 'Only moderators can do that.',
  'refuse.above_ceiling': 'That is above the limit the operator allows ({field} at most {max}).',
  'refuse.invalid': 'That change is not valid: {reason}',
  'refuse.store_full': 'The bot is storing too many images right now. Try again in a few minutes.',
  'refuse.unavailable': 'Image generation is not available right now: no GPU server is up. Try again later.',
  'cancel.none': 'Nothing to cancel.',
  'cancel.waiting': 'Cancelled. Your quota was not charged.',
  'cancel.running': 'Stopping it…',
  'cancel.finished': 'That job has already finished.',
  'delete.done': 'Deleted.',
  'forget.done': 'Done: deleted {records} saved jobs and {photos} photos, and your settings.',
  'settings.saved': 'Saved your settings.',
  'settings.show':
    'Your settings: style {style}, aspect {aspect}, negative "{negative}", language {language}, previews {previews}.\nChange with /settings style=flux ar=16:9 negative="blurry" lang=es previews=off, or /settings reset.',
  'quota.view':
    'Today: {used} of {allowed} images used{credits}. In progress: {active} of {maxActive}. Resets in {resetIn}.',
  'quota.credits': ', {credits} bonus credits',
  'styles.header': 'Styles you can use:',
  'styles.line': '• {name}: {label}{weight}',
  'styles.weight': ' ({units} units per image)',
  help: 'Make images:\n/imagine a fox in snow --ar 16:9 --seed 42 --no people --style flux --count 4\n/portrait (with a photo) smiling knight --strength 0.8\nThen use the buttons: Reroll, Variation, Upscale.\n/quota · /styles · /settings · /cancel · /forget',
  'help.mod': 'Moderators: /limits show|set|grant|reset|ban|unban|default|role|settings|top|audit, /stats',
  'limits.user':
    'User {user}: {used} of {allowed} today, credits {credits}, active {active}/{maxActive}, priority {priority}{ban}.',
  'limits.ban': ', banned{until}: {reason}',
  'limits.saved': 'Saved.',
  'limits.granted': 'Granted. {user} now has {credits} bonus credits.',
  'limits.reset': "Reset today's usage of {user}.",
  'limits.banned': 'Banned {user}{until}.',
  'limits.unbanned': 'Unbanned {user}.',
  'limits.settings':
    'Settings here: blocked words {blocklist}; styles {styles}; default style {defaultStyle}; previews {previews}; portraits from others\u2019 photos {others}.',
  'limits.top': 'Most images today:\n{lines}',
  'limits.audit': 'Recent moderator actions:\n{lines}',
  'limits.empty': '(none)',
  stats: 'Last runs per style and backend:\n{lines}',
  'word.on': 'on',
  'word.off': 'off',
  'word.none': 'none',
  'word.default': 'default',
  'word.all': 'all',
  'button.reroll': 'Reroll',
  'button.variation': 'Vary {n}',
  'button.upscale': 'Upscale {n}',
  'button.cancel': 'Cancel',
  'button.delete': 'Delete',
} as const;

export type MessageKey = keyof typeof en;
type Table = Readonly<Record<MessageKey, string>>;

const es: Table = {
  'stage.queued': 'En cola',
  'stage.starting': 'Empezando',
  'stage.loading': 'Cargando modelo',
  'stage.sampling': 'Dibujando',
  'stage.decoding': 'Terminando',
  'stage.uploading': 'Enviando',
  'progress.position': 'n.º {position} en la cola',
  'progress.eta': 'unos {eta}',
  'progress.elapsed': '{elapsed} transcurridos',
  queued: 'En cola, n.º {position}{eta}. Escribe /cancel para detenerlo.',
  'queued.eta': ', unos {eta}',
  'result.caption': '{prompt}\nsemilla {seed} · {style} · {seconds} s',
  'result.saved': 'Guardado: {paths}',
  'result.failed': 'No se pudo crear tu imagen: {reason} No se descontó de tu cuota.',
  'result.cancelled': 'Cancelado. No se descontó de tu cuota.',
  'error.no_face':
    'no se encontró ninguna cara en la foto. Envía una foto nítida y de frente de una sola cara.',
  'error.out_of_memory': 'la GPU se quedó sin memoria. Prueba con menos imágenes o un tamaño menor.',
  'error.missing_model': 'al servidor GPU le falta un modelo que necesita este estilo. Prueba otro estilo.',
  'error.missing_node': 'al servidor GPU le falta un nodo que necesita este estilo. Prueba otro estilo.',
  'error.style_unavailable': 'ningún servidor GPU puede usar este estilo ahora. Prueba otro (/styles).',
  'error.backend_unavailable': 'los servidores GPU no responden. Inténtalo de nuevo en unos minutos.',
  'error.timeout': 'tardó demasiado.',
  'error.queued_timeout': 'la cola era demasiado larga y el trabajo esperó demasiado. Inténtalo más tarde.',
  'error.reference_missing': 'la foto de este trabajo caducó. Envíala de nuevo.',
  'error.blob_cap': 'el bot guarda demasiadas imágenes ahora mismo. Inténtalo en unos minutos.',
  'error.generic': 'el servidor GPU falló al dibujar.',
  'refuse.banned': 'Tienes prohibido crear imágenes aquí{until}.{reason}',
  'refuse.banned.until': ' hasta {until}',
  'refuse.daily_limit': 'Ya usaste tus {allowed} imágenes de hoy. Tu cupo se renueva en {resetIn}.',
  'refuse.too_many_active': 'Ya tienes {max} imágenes en curso. Espera a que termine una o usa /cancel.',
  'refuse.burst': 'Más despacio: inténtalo de nuevo en {retryIn}.',
  'refuse.budget_exhausted': 'El presupuesto de imágenes de hoy se agotó. Se renueva en {resetIn}.',
  'refuse.scope_not_allowed': 'Este bot no está habilitado en este servidor o grupo.',
  'refuse.queue_full': 'La cola está llena ({waiting} esperando). Inténtalo en unos minutos.',
  'refuse.prompt_blocked': 'Este texto no está permitido aquí.',
  'refuse.style_not_allowed': 'El estilo "{style}" no está habilitado aquí. Permitidos: {styles}.',
  'refuse.unknown_style': 'No existe el estilo "{style}". Disponibles: {styles}.',
  'refuse.invalid_params': '{message}',
  'refuse.photo_required': 'Adjunta una foto de una cara (o responde a una) con /portrait.',
  'refuse.photo_from_others': 'Aquí solo se pueden hacer retratos con tus propias fotos.',
  'refuse.photo': 'No se puede usar esa foto: {message}',
  'refuse.album': 'Enviaste varias fotos: usé la primera.',
  'refuse.not_yours': 'Solo quien lo pidió (o un moderador) puede usar estos botones.',
  'refuse.expired': 'Este resultado caducó; los botones duran {days} días. Empieza un nuevo /imagine.',
  'refuse.no_previous': 'Todavía no tienes ninguna imagen aquí. Empieza con /imagine.',
  'refuse.not_moderator': 'Solo los moderadores pueden hacer eso.',
  'refuse.above_ceiling': 'Eso supera el límite que permite el operador ({field} como máximo {max}).',
  'refuse.invalid': 'Ese cambio no es válido: {reason}',
  'refuse.store_full': 'El bot guarda demasiadas imágenes ahora mismo. Inténtalo en unos minutos.',
  'refuse.unavailable':
    'La generación de imágenes no está disponible: ningún servidor GPU responde. Inténtalo más tarde.',
  'cancel.none': 'No hay nada que cancelar.',
  'cancel.waiting': 'Cancelado. No se descontó de tu cuota.',
  'cancel.running': 'Deteniéndolo…',
  'cancel.finished': 'Ese trabajo ya terminó.',
  'delete.done': 'Borrado.',
  'forget.done': 'Hecho: borré {records} trabajos guardados, {photos} fotos y tus ajustes.',
  'settings.saved': 'Ajustes guardados.',
  'settings.show':
    'Tus ajustes: estilo {style}, formato {aspect}, negativo "{negative}", idioma {language}, vistas previas {previews}.\nCambia con /settings style=flux ar=16:9 negative="borroso" lang=es previews=off, o /settings reset.',
  'quota.view':
    'Hoy: {used} de {allowed} imágenes usadas{credits}. En curso: {active} de {maxActive}. Se renueva en {resetIn}.',
  'quota.credits': ', {credits} créditos extra',
  'styles.header': 'Estilos disponibles:',
  'styles.line': '• {name}: {label}{weight}',
  'styles.weight': ' ({units} unidades por imagen)',
  help: 'Crea imágenes:\n/imagine un zorro en la nieve --ar 16:9 --seed 42 --no personas --style flux --count 4\n/portrait (con una foto) caballero sonriente --strength 0.8\nLuego usa los botones: Repetir, Variación, Ampliar.\n/quota · /styles · /settings · /cancel · /forget',
  'help.mod': 'Moderadores: /limits show|set|grant|reset|ban|unban|default|role|settings|top|audit, /stats',
  'limits.user':
    'Usuario {user}: {used} de {allowed} hoy, créditos {credits}, en curso {active}/{maxActive}, prioridad {priority}{ban}.',
  'limits.ban': ', bloqueado{until}: {reason}',
  'limits.saved': 'Guardado.',
  'limits.granted': 'Concedido. {user} tiene ahora {credits} créditos extra.',
  'limits.reset': 'Reinicié el uso de hoy de {user}.',
  'limits.banned': 'Bloqueé a {user}{until}.',
  'limits.unbanned': 'Desbloqueé a {user}.',
  'limits.settings':
    'Ajustes aquí: palabras bloqueadas {blocklist}; estilos {styles}; estilo por defecto {defaultStyle}; vistas previas {previews}; retratos con fotos ajenas {others}.',
  'limits.top': 'Más imágenes hoy:\n{lines}',
  'limits.audit': 'Acciones recientes de moderación:\n{lines}',
  'limits.empty': '(ninguno)',
  stats: 'Últimas ejecuciones por estilo y servidor:\n{lines}',
  'word.on': 'sí',
  'word.off': 'no',
  'word.none': 'ninguno',
  'word.default': 'por defecto',
  'word.all': 'todos',
  'button.reroll': 'Repetir',
  'button.variation': 'Variar {n}',
  'button.upscale': 'Ampliar {n}',
  'button.cancel': 'Cancelar',
  'button.delete': 'Borrar',
};

const pt: Table = {
  'stage.queued': 'Na fila',
  'stage.starting': 'Começando',
  'stage.loading': 'Carregando modelo',
  'stage.sampling': 'Desenhando',
  'stage.decoding': 'Finalizando',
  'stage.uploading': 'Enviando',
  'progress.position': 'n.º {position} na fila',
  'progress.eta': 'cerca de {eta}',
  'progress.elapsed': '{elapsed} decorridos',
  queued: 'Na fila, n.º {position}{eta}. Digite /cancel para parar.',
  'queued.eta': ', cerca de {eta}',
  'result.caption': '{prompt}\nsemente {seed} · {style} · {seconds} s',
  'result.saved': 'Salvo: {paths}',
  'result.failed': 'Não foi possível criar sua imagem: {reason} Sua cota não foi cobrada.',
  'result.cancelled': 'Cancelado. Sua cota não foi cobrada.',
  'error.no_face': 'nenhum rosto foi encontrado na foto. Envie uma foto nítida e de frente de um só rosto.',
  'error.out_of_memory': 'a GPU ficou sem memória. Tente menos imagens ou um tamanho menor.',
  'error.missing_model': 'falta no servidor GPU um modelo de que este estilo precisa. Tente outro estilo.',
  'error.missing_node': 'falta no servidor GPU um nó de que este estilo precisa. Tente outro estilo.',
  'error.style_unavailable': 'nenhum servidor GPU pode usar este estilo agora. Tente outro (/styles).',
  'error.backend_unavailable': 'os servidores GPU não respondem. Tente de novo em alguns minutos.',
  'error.timeout': 'demorou demais.',
  'error.queued_timeout': 'a fila estava longa demais e o trabalho esperou demais. Tente mais tarde.',
  'error.reference_missing': 'a foto deste trabalho expirou. Envie-a de novo.',
  'error.blob_cap': 'o bot está guardando imagens demais agora. Tente em alguns minutos.',
  'error.generic': 'o servidor GPU falhou ao desenhar.',
  'refuse.banned': 'Você está proibido de criar imagens aqui{until}.{reason}',
  'refuse.banned.until': ' até {until}',
  'refuse.daily_limit': 'Você já usou suas {allowed} imagens de hoje. Sua cota renova em {resetIn}.',
  'refuse.too_many_active': 'Você já tem {max} imagens em andamento. Espere uma terminar ou use /cancel.',
  'refuse.burst': 'Mais devagar: tente de novo em {retryIn}.',
  'refuse.budget_exhausted': 'O orçamento de imagens de hoje acabou. Renova em {resetIn}.',
  'refuse.scope_not_allowed': 'Este bot não está habilitado neste servidor ou grupo.',
  'refuse.queue_full': 'A fila está cheia ({waiting} esperando). Tente em alguns minutos.',
  'refuse.prompt_blocked': 'Este texto não é permitido aqui.',
  'refuse.style_not_allowed': 'O estilo "{style}" não está habilitado aqui. Permitidos: {styles}.',
  'refuse.unknown_style': 'Não existe o estilo "{style}". Disponíveis: {styles}.',
  'refuse.invalid_params': '{message}',
  'refuse.photo_required': 'Anexe uma foto de um rosto (ou responda a uma) com /portrait.',
  'refuse.photo_from_others': 'Aqui só é possível fazer retratos com suas próprias fotos.',
  'refuse.photo': 'Essa foto não pode ser usada: {message}',
  'refuse.album': 'Você enviou várias fotos: usei a primeira.',
  'refuse.not_yours': 'Só quem pediu (ou um moderador) pode usar estes botões.',
  'refuse.expired': 'Este resultado expirou; os botões valem por {days} dias. Comece um novo /imagine.',
  'refuse.no_previous': 'Você ainda não tem nenhuma imagem aqui. Comece com /imagine.',
  'refuse.not_moderator': 'Só moderadores podem fazer isso.',
  'refuse.above_ceiling': 'Isso passa do limite que o operador permite ({field} no máximo {max}).',
  'refuse.invalid': 'Essa mudança não é válida: {reason}',
  'refuse.store_full': 'O bot está guardando imagens demais agora. Tente em alguns minutos.',
  'refuse.unavailable':
    'A geração de imagens não está disponível: nenhum servidor GPU responde. Tente mais tarde.',
  'cancel.none': 'Não há nada para cancelar.',
  'cancel.waiting': 'Cancelado. Sua cota não foi cobrada.',
  'cancel.running': 'Parando…',
  'cancel.finished': 'Esse trabalho já terminou.',
  'delete.done': 'Apagado.',
  'forget.done': 'Pronto: apaguei {records} trabalhos salvos, {photos} fotos e suas configurações.',
  'settings.saved': 'Configurações salvas.',
  'settings.show':
    'Suas configurações: estilo {style}, formato {aspect}, negativo "{negative}", idioma {language}, prévias {previews}.\nMude com /settings style=flux ar=16:9 negative="borrado" lang=pt previews=off, ou /settings reset.',
  'quota.view':
    'Hoje: {used} de {allowed} imagens usadas{credits}. Em andamento: {active} de {maxActive}. Renova em {resetIn}.',
  'quota.credits': ', {credits} créditos extras',
  'styles.header': 'Estilos disponíveis:',
  'styles.line': '• {name}: {label}{weight}',
  'styles.weight': ' ({units} unidades por imagem)',
  help: 'Crie imagens:\n/imagine uma raposa na neve --ar 16:9 --seed 42 --no pessoas --style flux --count 4\n/portrait (com uma foto) cavaleiro sorrindo --strength 0.8\nDepois use os botões: Refazer, Variação, Ampliar.\n/quota · /styles · /settings · /cancel · /forget',
  'help.mod': 'Moderadores: /limits show|set|grant|reset|ban|unban|default|role|settings|top|audit, /stats',
  'limits.user':
    'Usuário {user}: {used} de {allowed} hoje, créditos {credits}, em andamento {active}/{maxActive}, prioridade {priority}{ban}.',
  'limits.ban': ', banido{until}: {reason}',
  'limits.saved': 'Salvo.',
  'limits.granted': 'Concedido. {user} agora tem {credits} créditos extras.',
  'limits.reset': 'Zerei o uso de hoje de {user}.',
  'limits.banned': 'Bani {user}{until}.',
  'limits.unbanned': 'Desbani {user}.',
  'limits.settings':
    'Configurações aqui: palavras bloqueadas {blocklist}; estilos {styles}; estilo padrão {defaultStyle}; prévias {previews}; retratos com fotos de outros {others}.',
  'limits.top': 'Mais imagens hoje:\n{lines}',
  'limits.audit': 'Ações recentes de moderação:\n{lines}',
  'limits.empty': '(nenhum)',
  stats: 'Últimas execuções por estilo e servidor:\n{lines}',
  'word.on': 'sim',
  'word.off': 'não',
  'word.none': 'nenhum',
  'word.default': 'padrão',
  'word.all': 'todos',
  'button.reroll': 'Refazer',
  'button.variation': 'Variar {n}',
  'button.upscale': 'Ampliar {n}',
  'button.cancel': 'Cancelar',
  'button.delete': 'Apagar',
};

const TABLES: Readonly<Record<Language, Table>> = { en, es, pt };

/** `{name}` placeholders are filled from params; a missing param stays visible rather than vanishing. */
export function t(lang: Language, key: MessageKey, params: Params = {}): string {
  const template = TABLES[lang][key];
  return template.replace(/\{(\w+)\}/g, (m, name: string) => {
    const v = params[name];
    return v === undefined ? m : String(v);
  });
}

/** A platform locale (`pt-BR`, `es-419`, `en-US`) → one of our languages; English otherwise. */
export function languageOf(locale: string | undefined): Language {
  const base = (locale ?? '').toLowerCase().split(/[-_]/)[0];
  return base === 'es' || base === 'pt' ? base : 'en';
}

/** `42 s`, `3 min`, `2 h 5 min`: short, for ETAs and reset times. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  const rest = m % 60;
  return rest === 0 ? `${h} h` : `${h} h ${rest} min`;
}

export function allTables(): Readonly<Record<Language, Table>> {
  return TABLES;
}
