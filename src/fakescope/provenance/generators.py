"""Generator parameters and tool names that AI image tools write into files.

Local Stable Diffusion front ends store their full settings in the file: AUTOMATIC1111,
Forge and SD.Next an "infotext" (``parameters`` PNG chunk or EXIF ``UserComment``),
ComfyUI its node graph (``prompt``/``workflow`` JSON), InvokeAI ``invokeai_metadata`` /
``sd-metadata``, NovelAI ``Software``/``Comment``, Fooocus ``fooocus_scheme`` + JSON
``parameters``, SwarmUI ``sui_image_params``, Easy Diffusion one chunk per setting, Draw
Things a JSON ``exif:UserComment`` in XMP.  Hosted services (Midjourney, DALL·E, Adobe
Firefly, Google's Imagen/Gemini, Meta AI, ...) leave their name in ``Software``, XMP
``CreatorTool``, ``photoshop:Credit`` or the description.

This metadata is unsigned: it is strong as a *self-declaration* (real photos do not carry
a sampler and a seed) and says nothing when absent (most sites strip it).  Editors
(Photoshop, GIMP, Lightroom, ...) are reported separately: editing is not generation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..types import Evidence, ImageMetadata
from .iptc import XmpProperties

__all__ = [
    "GeneratorFinding",
    "EditorFinding",
    "parse_a1111",
    "parse_comfyui",
    "parse_invokeai",
    "parse_novelai",
    "parse_fooocus",
    "find_generators",
    "find_editors",
    "guess_base_model",
    "generator_evidence",
    "editor_evidence",
]

_MAX_TEXT = 1_000_000  # longest metadata string parsed (ComfyUI workflows can be large)


@dataclass(frozen=True)
class GeneratorFinding:
    """An AI tool or model named by the file's metadata.

    Parameters
    ----------
    tool : short id of the software that wrote it (``"automatic1111"``, ``"comfyui"``, ``"midjourney"``...).
    tool_name : the same in words.
    generator : the model (checkpoint) when named, else the service or tool.
    family : ``"diffusion"`` for diffusion-model tools, ``"unknown"`` when not known.
    where : which metadata field said it.
    parameters : generation settings (prompt, steps, sampler, seed, size, ...).
    base_model : the base architecture guessed from the model name (``"Stable Diffusion XL"``...).
    structured : the settings were parsed (stronger than a name in a free-text field).
    strength : ``"strong"`` for a generator's own record, ``"weak"`` for a generic phrase.
    """

    tool: str
    tool_name: str
    generator: str
    family: str
    where: str
    parameters: dict[str, Any] = field(default_factory=dict)
    base_model: str | None = None
    structured: bool = False
    strength: str = "strong"
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"tool": self.tool, "tool_name": self.tool_name, "generator": self.generator, "family": self.family,
             "where": self.where, "structured": self.structured}
        if self.base_model:
            d["base_model"] = self.base_model
        if self.parameters:
            d["parameters"] = self.parameters
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True)
class EditorFinding:
    """An image editor named by the file's metadata (``Software``, ``CreatorTool``, history)."""

    name: str
    value: str
    where: str

    def to_dict(self) -> dict[str, Any]:
        return {"editor": self.name, "value": self.value, "where": self.where}


# --------------------------------------------------------------------------- base models

_BASES: tuple[tuple[str, str], ...] = (
    (r"flux", "FLUX.1"),
    (r"sd3|stable[-_ ]?diffusion[-_ ]?3", "Stable Diffusion 3"),
    (r"cascade", "Stable Cascade"),
    (r"sd_?xl|sdxl|xl[-_]base|xl[-_]refiner|[-_ ]xl\b|xl[-_ ]?v?\d|juggernaut|pony|illustrious|noobai|"
     r"animagine|dreamshaper[-_ ]?xl|realvis[-_ ]?xl", "Stable Diffusion XL"),
    (r"v2[-_.]?[01]|sd2[01]?\b|sd_2|768-v-ema|512-base-ema", "Stable Diffusion 2.x"),
    (r"v1[-_.][45]|sd[-_]?1[45]?\b|sd15|sd-v1|sd_v1|stable[-_ ]?diffusion[-_ ]?v?1", "Stable Diffusion 1.x"),
    (r"pixart", "PixArt"),
    (r"hunyuan", "Hunyuan-DiT"),
    (r"kolors", "Kolors"),
    (r"playground", "Playground"),
    (r"hidream", "HiDream"),
    (r"auraflow", "AuraFlow"),
    (r"lumina", "Lumina"),
    (r"qwen[-_ ]?image", "Qwen-Image"),
)
_BASES_RE = [(re.compile(p, re.IGNORECASE), name) for p, name in _BASES]


def guess_base_model(name: str | None) -> str | None:
    """Guess a checkpoint's base architecture from its file name.

    Parameters
    ----------
    name : a model or checkpoint name, e.g. ``"sd_xl_base_1.0.safetensors"``.

    Returns
    -------
    str or None

    Examples
    --------
    >>> guess_base_model("sd_xl_base_1.0.safetensors")
    'Stable Diffusion XL'
    >>> guess_base_model("v1-5-pruned-emaonly")
    'Stable Diffusion 1.x'
    >>> guess_base_model("flux1-dev-fp8.safetensors")
    'FLUX.1'
    >>> guess_base_model("my_model") is None
    True
    """
    if not name:
        return None
    for rx, base in _BASES_RE:
        if rx.search(name):
            return base
    return None


def _json(text: str | None) -> Any:
    if not text or len(text) > _MAX_TEXT:
        return None
    t = text.strip()
    if not t or t[0] not in "{[":
        return None
    try:
        return json.loads(t)
    except (ValueError, RecursionError):
        return None


def _num(v: Any) -> Any:
    """A numeric-looking string as a number, else unchanged."""
    if isinstance(v, str):
        s = v.strip()
        if re.fullmatch(r"-?\d+", s):
            return int(s)
        if re.fullmatch(r"-?\d+\.\d*(e-?\d+)?", s):
            return float(s)
    return v


# --------------------------------------------------------------------------- AUTOMATIC1111 / Forge / SD.Next

# the web UI's own pattern for "key: value" pairs (values may be quoted)
_RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_RE_STEPS = re.compile(r"(?:^|,\s*)Steps:\s*\d+")


def parse_a1111(text: str) -> dict[str, Any] | None:
    """Parse an AUTOMATIC1111-style infotext (also Forge, SD.Next, Fooocus' A1111 scheme).

    Parameters
    ----------
    text : the ``parameters`` chunk or EXIF ``UserComment``.

    Returns
    -------
    dict or None
        ``{"prompt", "negative_prompt", "settings": {key: value}, "postprocess_only"}``, or
        ``None`` when the text is not an infotext.

    Examples
    --------
    >>> r = parse_a1111("a cat\\nNegative prompt: dog\\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
    ...                 "Seed: 42, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly")
    >>> r["prompt"], r["negative_prompt"], r["settings"]["Seed"], r["settings"]["Model"]
    ('a cat', 'dog', 42, 'v1-5-pruned-emaonly')
    """
    if not text or len(text) > _MAX_TEXT:
        return None
    lines = text.strip().replace("\r\n", "\n").split("\n")
    idx = None
    for i in range(len(lines) - 1, -1, -1):
        if _RE_STEPS.search(lines[i]) or lines[i].lstrip().startswith("Postprocess upscale"):
            idx = i
            break
    if idx is None:
        return None
    settings: dict[str, Any] = {}
    for key, value in _RE_PARAM.findall(lines[idx]):
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        settings[key.strip()] = _num(value)
    if not settings:
        return None
    head = lines[:idx]
    prompt_lines: list[str] = []
    neg_lines: list[str] = []
    target = prompt_lines
    for line in head:
        if line.startswith("Negative prompt:"):
            target = neg_lines
            line = line[len("Negative prompt:"):].strip()
        target.append(line)
    postprocess_only = "Steps" not in settings and any(k.startswith("Postprocess") for k in settings)
    return {"prompt": "\n".join(prompt_lines).strip(), "negative_prompt": "\n".join(neg_lines).strip(),
            "settings": settings, "postprocess_only": postprocess_only}


def _a1111_finding(text: str, where: str) -> GeneratorFinding | None:
    r = parse_a1111(text)
    if r is None:
        return None
    s = r["settings"]
    version = str(s.get("Version", ""))
    app = str(s.get("App", ""))
    if "fooocus" in version.lower():
        tool, tool_name = "fooocus", "Fooocus"
    elif "sd.next" in app.lower() or "sdnext" in app.lower():
        tool, tool_name = "sdnext", "SD.Next"
    elif re.match(r"f\d", version) or "forge" in version.lower():
        tool, tool_name = "forge", "Stable Diffusion WebUI Forge"
    else:
        tool, tool_name = "automatic1111", "AUTOMATIC1111 Stable Diffusion web UI"
    model = s.get("Model")
    params: dict[str, Any] = {}
    if r["prompt"]:
        params["prompt"] = r["prompt"]
    if r["negative_prompt"]:
        params["negative_prompt"] = r["negative_prompt"]
    for key in ("Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model hash", "Model",
                "VAE", "Denoising strength", "Clip skip", "Hires upscale", "Hires upscaler",
                "Postprocess upscale by", "Postprocess upscaler", "Version"):
        if key in s:
            params[key] = s[key]
    if r["postprocess_only"]:
        return GeneratorFinding(
            tool=tool, tool_name=tool_name, generator=str(s.get("Postprocess upscaler", tool_name)),
            family="unknown", where=where, parameters=params, structured=True, strength="weak",
            note="upscaled with an AI upscaler in the web UI's Extras tab (not generated there)")
    note = None
    if "Denoising strength" in s and "Hires upscale" not in s:
        note = "image-to-image: generated from another picture"
    return GeneratorFinding(
        tool=tool, tool_name=tool_name, generator=str(model) if model else tool_name, family="diffusion",
        where=where, parameters=params, base_model=guess_base_model(str(model)) if model else None,
        structured=True, note=note)


# --------------------------------------------------------------------------- ComfyUI

_CKPT_KEYS = ("ckpt_name", "unet_name", "base_ckpt_name")
_MODEL_EXT = re.compile(r"\.(safetensors|ckpt|pt|pth|bin|gguf|sft)$", re.IGNORECASE)


def parse_comfyui(prompt: str | None = None, workflow: str | None = None) -> dict[str, Any] | None:
    """Read the models and settings from ComfyUI's ``prompt`` (API graph) or ``workflow`` JSON.

    Parameters
    ----------
    prompt : the ``prompt`` text chunk (``{node_id: {"class_type", "inputs"}}``).
    workflow : the ``workflow`` text chunk (``{"nodes": [{"type", "widgets_values"}]}``).

    Returns
    -------
    dict or None
        ``{"models": [...], "settings": {...}, "prompts": [...]}``, ``None`` when neither is a
        ComfyUI graph.

    Examples
    --------
    >>> g = '{"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},'
    >>> g += ' "3": {"class_type": "KSampler", "inputs": {"seed": 7, "steps": 25, "cfg": 8.0}}}'
    >>> parse_comfyui(prompt=g)["models"]
    ['sd_xl_base_1.0.safetensors']
    """
    models: list[str] = []
    settings: dict[str, Any] = {}
    prompts: list[str] = []
    found = False
    graph = _json(prompt)
    if isinstance(graph, dict) and graph and all(isinstance(v, dict) for v in graph.values()):
        nodes = [v for v in graph.values() if "class_type" in v]
        if nodes:
            found = True
        for node in nodes:
            ct = str(node.get("class_type", ""))
            inputs = node.get("inputs") or {}
            if not isinstance(inputs, dict):
                continue
            for k in _CKPT_KEYS:
                v = inputs.get(k)
                if isinstance(v, str) and v not in models:
                    models.append(v)
            if "KSampler" in ct or "Sampler" in ct:
                for src, dst in (("seed", "seed"), ("noise_seed", "seed"), ("steps", "steps"), ("cfg", "cfg"),
                                 ("sampler_name", "sampler"), ("scheduler", "scheduler"), ("denoise", "denoise")):
                    v = inputs.get(src)
                    if isinstance(v, (int, float, str)) and dst not in settings:
                        settings[dst] = v
            if ct.startswith("EmptyLatentImage") or ct.startswith("EmptySD3LatentImage"):
                for k in ("width", "height"):
                    if isinstance(inputs.get(k), int):
                        settings[k] = inputs[k]
            if "CLIPTextEncode" in ct:
                for k in ("text", "text_g", "text_l"):
                    v = inputs.get(k)
                    if isinstance(v, str) and v.strip() and v not in prompts:
                        prompts.append(v)
    wf = _json(workflow)
    if isinstance(wf, dict) and isinstance(wf.get("nodes"), list):
        found = True
        for node in wf["nodes"]:
            if not isinstance(node, dict):
                continue
            ntype = str(node.get("type", ""))
            if "Loader" not in ntype and "Checkpoint" not in ntype:
                continue
            if "Upscale" in ntype or "Lora" in ntype or "VAE" in ntype or "CLIP" in ntype:
                continue
            for v in node.get("widgets_values") or []:
                if isinstance(v, str) and _MODEL_EXT.search(v):
                    if v not in models:
                        models.append(v)
                    break
    if not found:
        return None
    return {"models": models, "settings": settings, "prompts": prompts}


def _comfy_finding(text: Mapping[str, str]) -> GeneratorFinding | None:
    r = parse_comfyui(text.get("prompt"), text.get("workflow"))
    if r is None:
        return None
    params: dict[str, Any] = dict(r["settings"])
    if r["prompts"]:
        params["prompts"] = r["prompts"][:4]
    if r["models"]:
        params["models"] = r["models"]
    model = r["models"][0] if r["models"] else None
    where = "PNG text 'prompt'" if text.get("prompt") else "PNG text 'workflow'"
    return GeneratorFinding(tool="comfyui", tool_name="ComfyUI", generator=model or "ComfyUI", family="diffusion",
                            where=where, parameters=params, base_model=guess_base_model(model), structured=True)


# --------------------------------------------------------------------------- InvokeAI

def parse_invokeai(text: Mapping[str, str]) -> dict[str, Any] | None:
    """Read InvokeAI's ``invokeai_metadata`` (v3+), ``sd-metadata`` (v2) or ``Dream`` (v1) chunk.

    Returns
    -------
    dict or None
        ``{"model", "base", "settings", "version"}``.

    Examples
    --------
    >>> parse_invokeai({"invokeai_metadata": '{"model": {"name": "Juggernaut XL", "base": "sdxl"},'
    ...                 ' "seed": 1, "steps": 30}'})["model"]
    'Juggernaut XL'
    """
    meta = _json(text.get("invokeai_metadata"))
    if isinstance(meta, dict):
        m = meta.get("model")
        model = base = None
        if isinstance(m, dict):
            model = m.get("name") or m.get("model_name")
            base = m.get("base") or m.get("base_model")
        elif isinstance(m, str):
            model = m
        settings = {k: meta[k] for k in ("positive_prompt", "negative_prompt", "seed", "steps", "cfg_scale",
                                         "scheduler", "width", "height", "generation_mode", "strength")
                    if k in meta and isinstance(meta[k], (str, int, float))}
        return {"model": model, "base": base, "settings": settings, "version": meta.get("app_version")}
    meta = _json(text.get("sd-metadata"))
    if isinstance(meta, dict):
        img = meta.get("image") if isinstance(meta.get("image"), dict) else {}
        settings = {k: img[k] for k in ("steps", "cfg_scale", "seed", "sampler", "width", "height", "type")
                    if k in img and isinstance(img[k], (str, int, float))}
        p = img.get("prompt")
        if isinstance(p, list) and p and isinstance(p[0], dict):
            settings["positive_prompt"] = str(p[0].get("prompt", ""))
        elif isinstance(p, str):
            settings["positive_prompt"] = p
        return {"model": meta.get("model_weights") or meta.get("model"), "base": None, "settings": settings,
                "version": meta.get("app_version")}
    dream = text.get("Dream")
    if dream and re.search(r"\s-s\s*\d+", dream):
        settings = {}
        for flag, key in (("-s", "steps"), ("-S", "seed"), ("-W", "width"), ("-H", "height"), ("-C", "cfg_scale"),
                          ("-A", "sampler")):
            m2 = re.search(rf"\s{flag}\s*(\S+)", dream)
            if m2:
                settings[key] = _num(m2.group(1))
        m3 = re.match(r'\s*"(.*?)"', dream)
        if m3:
            settings["positive_prompt"] = m3.group(1)
        return {"model": None, "base": None, "settings": settings, "version": None}
    if text.get("invokeai_graph"):
        return {"model": None, "base": None, "settings": {}, "version": None}
    return None


def _invoke_finding(text: Mapping[str, str]) -> GeneratorFinding | None:
    r = parse_invokeai(text)
    if r is None:
        return None
    model = r["model"]
    params = dict(r["settings"])
    if r.get("version"):
        params["version"] = r["version"]
    base = {"sd-1": "Stable Diffusion 1.x", "sd-2": "Stable Diffusion 2.x", "sdxl": "Stable Diffusion XL",
            "sd-3": "Stable Diffusion 3", "flux": "FLUX.1"}.get(str(r["base"]).lower()) if r["base"] else None
    where = next(f"PNG text '{k}'" for k in ("invokeai_metadata", "sd-metadata", "Dream", "invokeai_graph")
                 if text.get(k))
    return GeneratorFinding(tool="invokeai", tool_name="InvokeAI", generator=str(model) if model else "InvokeAI",
                            family="diffusion", where=where, parameters=params,
                            base_model=base or guess_base_model(str(model) if model else None), structured=True)


# --------------------------------------------------------------------------- NovelAI

def parse_novelai(text: Mapping[str, str]) -> dict[str, Any] | None:
    """Read NovelAI's chunks (``Software: NovelAI``, ``Source``, ``Comment`` JSON).

    Examples
    --------
    >>> parse_novelai({"Software": "NovelAI", "Source": "NovelAI Diffusion V3 7BCCAA2C",
    ...                "Comment": '{"steps": 28, "scale": 5, "seed": 9}'})["settings"]["seed"]
    9
    """
    software = str(text.get("Software", ""))
    source = str(text.get("Source", ""))
    if "novelai" not in software.lower() and "novelai" not in source.lower():
        return None
    comment = _json(text.get("Comment"))
    settings: dict[str, Any] = {}
    if isinstance(comment, dict):
        for k in ("prompt", "steps", "scale", "seed", "sampler", "width", "height", "noise_schedule", "strength",
                  "uc"):
            if k in comment and isinstance(comment[k], (str, int, float)):
                settings["negative_prompt" if k == "uc" else k] = comment[k]
    if "prompt" not in settings and text.get("Description"):
        settings["prompt"] = text["Description"]
    return {"model": source or "NovelAI Diffusion", "settings": settings}


# --------------------------------------------------------------------------- Fooocus, SwarmUI, Easy Diffusion, ...

def _ci(d: Mapping[str, Any], *names: str) -> Any:
    low = {str(k).lower().replace(" ", "_"): v for k, v in d.items()}
    for n in names:
        v = low.get(n.lower().replace(" ", "_"))
        if v not in (None, "", "None"):
            return v
    return None


def parse_fooocus(text: Mapping[str, str]) -> dict[str, Any] | None:
    """Read Fooocus' JSON ``parameters`` (``fooocus_scheme: fooocus``).

    Examples
    --------
    >>> parse_fooocus({"fooocus_scheme": "fooocus", "parameters": '{"Prompt": "a cat", '
    ...     '"Base Model": "juggernautXL_v8.safetensors", "Seed": "5", "Version": "Fooocus v2.1"}'})["model"]
    'juggernautXL_v8.safetensors'
    """
    params = _json(text.get("parameters"))
    scheme = str(text.get("fooocus_scheme", "")).lower()
    if not isinstance(params, dict):
        return None
    version = str(_ci(params, "version") or "")
    if scheme != "fooocus" and "fooocus" not in version.lower() and _ci(params, "base_model") is None:
        return None
    settings = {}
    for key in ("prompt", "negative_prompt", "steps", "guidance_scale", "seed", "sampler", "scheduler",
                "resolution", "performance", "styles", "refiner_model", "version"):
        v = _ci(params, key)
        if isinstance(v, (str, int, float)):
            settings[key] = _num(v)
    return {"model": _ci(params, "base_model"), "settings": settings}


def _swarm(text: Mapping[str, str]) -> dict[str, Any] | None:
    params = _json(text.get("parameters"))
    if not isinstance(params, dict) or not isinstance(params.get("sui_image_params"), dict):
        return None
    p = params["sui_image_params"]
    settings = {k: p[k] for k in ("prompt", "negativeprompt", "seed", "steps", "cfgscale", "width", "height",
                                  "sampler", "scheduler", "swarm_version") if isinstance(p.get(k), (str, int, float))}
    return {"model": p.get("model"), "settings": settings}


def _easy_diffusion(text: Mapping[str, str]) -> dict[str, Any] | None:
    if "use_stable_diffusion_model" not in text and not ("prompt" in text and "num_inference_steps" in text):
        return None
    settings = {k: _num(text[k]) for k in ("prompt", "negative_prompt", "seed", "num_inference_steps",
                                            "guidance_scale", "sampler_name", "width", "height") if k in text}
    return {"model": text.get("use_stable_diffusion_model"), "settings": settings}


def _draw_things(xmp: XmpProperties) -> dict[str, Any] | None:
    tool = " ".join(xmp.get("xmp", "CreatorTool"))
    if "draw things" not in tool.lower():
        return None
    settings: dict[str, Any] = {}
    model = None
    for uc in xmp.get("exif", "UserComment"):
        d = _json(uc)
        if isinstance(d, dict):
            model = d.get("model") or model
            for src, dst in (("c", "prompt"), ("uc", "negative_prompt"), ("seed", "seed"), ("steps", "steps"),
                             ("scale", "guidance_scale"), ("sampler", "sampler"), ("size", "size")):
                if isinstance(d.get(src), (str, int, float)):
                    settings[dst] = d[src]
    return {"model": model, "settings": settings}


# --------------------------------------------------------------------------- names of services and tools

@dataclass(frozen=True)
class _Marker:
    pattern: re.Pattern[str]
    generator: str
    tool: str
    family: str = "diffusion"


def _m(p: str, generator: str, tool: str, family: str = "diffusion") -> _Marker:
    return _Marker(re.compile(p, re.IGNORECASE), generator, tool, family)


#: Names checked in *tool* fields (Software, CreatorTool, softwareAgent, Credit, OriginatingProgram...).
_TOOL_MARKERS: tuple[_Marker, ...] = (
    _m(r"\bmidjourney\b", "Midjourney", "midjourney"),
    _m(r"\bdall[\s·\-_.]?e\b", "DALL·E", "openai"),
    _m(r"\bopenai\b|\bchatgpt\b|\bgpt-?image\b|\bgpt-4o\b", "OpenAI image generation", "openai", "unknown"),
    _m(r"\badobe[ _]firefly\b|\bfirefly (image|\d)", "Adobe Firefly", "firefly"),
    _m(r"made with google ai|\bimagen\b|\bgemini\b|\bnano[ -]banana\b|\bimagefx\b", "Google AI (Imagen/Gemini)",
       "google", "unknown"),
    _m(r"imagined with ai|\bmeta ai\b", "Meta AI", "meta", "unknown"),
    _m(r"bing image creator|image creator from microsoft|microsoft designer|copilot designer|\bcopilot\b",
       "Microsoft Designer / Bing Image Creator", "microsoft"),
    _m(r"stable[ -]?diffusion|\bsdxl\b|dreamstudio|stability ai|stable[ -]?cascade", "Stable Diffusion",
       "stable-diffusion"),
    _m(r"\bnovelai\b", "NovelAI Diffusion", "novelai"),
    _m(r"leonardo\.?ai|\bleonardo ai\b", "Leonardo.Ai", "leonardo"),
    _m(r"\bideogram\b", "Ideogram", "ideogram"),
    _m(r"\bflux(\.1|\.2|[ -]?(pro|dev|schnell|kontext))\b|black forest labs", "FLUX", "flux"),
    _m(r"\bnightcafe\b", "NightCafe", "nightcafe"),
    _m(r"\bcraiyon\b", "Craiyon", "craiyon"),
    _m(r"playground ?(ai|v\d)", "Playground", "playground"),
    _m(r"\bkrea(\.ai| ai)\b", "Krea", "krea"),
    _m(r"\brunway ?(ml|gen-?\d)\b", "Runway", "runway"),
    _m(r"\bgrok\b|\baurora\b.*\bxai\b|\bxai\b.*\baurora\b", "Grok (xAI)", "xai", "unknown"),
    _m(r"\bkling\b", "Kling", "kling"),
    _m(r"\bseedream\b|\bjimeng\b|\bdreamina\b", "Seedream (ByteDance)", "bytedance"),
    _m(r"\bhunyuan\b", "Hunyuan", "tencent"),
    _m(r"\bkolors\b", "Kolors", "kuaishou"),
    _m(r"\brecraft\b", "Recraft", "recraft", "unknown"),
    _m(r"\bdiffusionbee\b", "DiffusionBee", "diffusionbee"),
    _m(r"\bdraw things\b", "Draw Things", "drawthings"),
    _m(r"\bmochi diffusion\b", "Mochi Diffusion", "mochi-diffusion"),
    _m(r"\binvoke ?ai\b", "InvokeAI", "invokeai"),
    _m(r"\bcomfy ?ui\b", "ComfyUI", "comfyui"),
    _m(r"automatic1111|stable-diffusion-webui|\bsd\.next\b", "Stable Diffusion web UI", "automatic1111"),
    _m(r"\bfooocus\b", "Fooocus", "fooocus"),
    _m(r"\beasy diffusion\b", "Easy Diffusion", "easy-diffusion"),
    _m(r"\bnmkd\b", "NMKD Stable Diffusion GUI", "nmkd"),
    _m(r"\bartbreeder\b", "Artbreeder", "artbreeder", "gan"),
    _m(r"\bwombo\b|\bdream by wombo\b", "Dream by WOMBO", "wombo", "unknown"),
    _m(r"\bstarryai\b", "StarryAI", "starryai", "unknown"),
    _m(r"\bpixai\b", "PixAI", "pixai"),
    _m(r"\btensor\.art\b", "Tensor.Art", "tensorart"),
    _m(r"\bseaart\b", "SeaArt", "seaart"),
    _m(r"\bgetimg\.ai\b", "getimg.ai", "getimg"),
)

#: Phrases checked in *free-text* fields (descriptions, comments, titles): only unambiguous ones.
_TEXT_MARKERS: tuple[_Marker, ...] = (
    _m(r"job id:\s*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "Midjourney", "midjourney"),
    _m(r"made with google ai", "Google AI (Imagen/Gemini)", "google", "unknown"),
    _m(r"imagined with ai", "Meta AI", "meta", "unknown"),
    _m(r"created (with|by|using) (adobe )?firefly|generated (with|by|using) (adobe )?firefly", "Adobe Firefly",
       "firefly"),
    _m(r"(generated|created|made) (with|by|using) (midjourney|dall[\s·\-]?e|stable diffusion|chatgpt|"
       r"gpt-4o|imagen|gemini|ideogram|leonardo|flux)", "", "named-in-caption"),
)

#: Generic phrases that only hint at AI (weak): a caption may talk *about* AI.
_WEAK_PHRASES = re.compile(r"\b(ai[- ]generated|generated by ai|generative ai|made (with|by) ai|"
                           r"created (with|by) ai|synthetic image)\b", re.IGNORECASE)

_TOOL_FIELDS_EXIF = ("Software", "Make", "Model", "HostComputer", "ProcessingSoftware")
_TEXT_FIELDS_EXIF = ("ImageDescription", "UserComment", "XPComment", "XPTitle", "XPSubject")
_TOOL_FIELDS_PNG = ("Software", "Source", "Generator", "Creator", "Tool")
_TEXT_FIELDS_PNG = ("Description", "Comment", "Title", "comment")


def _field_values(meta: ImageMetadata, xmp: XmpProperties, iim: Mapping[str, Any]
                  ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(tool fields, free-text fields) as ``(where, value)`` pairs."""
    tools: list[tuple[str, str]] = []
    texts: list[tuple[str, str]] = []
    for k in _TOOL_FIELDS_EXIF:
        v = meta.exif.get(k)
        if isinstance(v, str) and v.strip():
            tools.append((f"EXIF {k}", v))
    for k in _TEXT_FIELDS_EXIF:
        v = meta.exif.get(k)
        if isinstance(v, str) and v.strip():
            texts.append((f"EXIF {k}", v))
    for k, v in meta.text.items():
        if not isinstance(v, str) or not v.strip():
            continue
        if k in _TOOL_FIELDS_PNG:
            tools.append((f"text '{k}'", v))
        elif k in _TEXT_FIELDS_PNG or k.startswith("comment"):
            texts.append((f"text '{k}'", v))
    for prefix, local in (("xmp", "CreatorTool"), ("stEvt", "softwareAgent"), ("photoshop", "Credit"),
                          ("tiff", "Software"), ("tiff", "Make"), ("tiff", "Model"),
                          ("Iptc4xmpExt", "AISystemUsed")):
        for v in xmp.get(prefix, local):
            tools.append((f"XMP {prefix}:{local}", v))
    for prefix, local in (("dc", "description"), ("dc", "title"), ("photoshop", "Headline"),
                          ("photoshop", "Instructions"), ("exif", "UserComment"), ("dc", "rights")):
        for v in xmp.get(prefix, local):
            texts.append((f"XMP {prefix}:{local}", v))
    for k in ("OriginatingProgram", "Credit", "Source"):
        v = iim.get(k)
        if isinstance(v, str) and v.strip():
            tools.append((f"IPTC-IIM {k}", v))
    for k in ("Caption-Abstract", "Headline", "SpecialInstructions", "ObjectName"):
        v = iim.get(k)
        if isinstance(v, str) and v.strip():
            texts.append((f"IPTC-IIM {k}", v))
    return tools, texts


def _excerpt(value: str, n: int = 120) -> str:
    v = " ".join(value.split())
    return v if len(v) <= n else v[: n - 1] + "…"


def find_generators(meta: ImageMetadata, xmp: XmpProperties, iim: Mapping[str, Any] | None = None
                    ) -> list[GeneratorFinding]:
    """Every AI tool, model or service the file's metadata names, most informative first.

    Parameters
    ----------
    meta : the sample's metadata (EXIF, PNG text chunks, JPEG comments).
    xmp : the parsed XMP packet.
    iim : IPTC-IIM fields, if any.

    Returns
    -------
    list of GeneratorFinding
        Parsed generator records (structured) first, then names found in tool fields,
        then phrases in captions; empty when nothing is found.
    """
    iim = iim or {}
    text = {k: v for k, v in meta.text.items() if isinstance(v, str)}
    out: list[GeneratorFinding] = []

    # 1. structured records
    fooocus = parse_fooocus(text)
    if fooocus is not None:
        m = fooocus["model"]
        out.append(GeneratorFinding("fooocus", "Fooocus", str(m) if m else "Fooocus", "diffusion",
                                    "PNG text 'parameters' (JSON)", fooocus["settings"],
                                    guess_base_model(str(m) if m else None) or "Stable Diffusion XL", True))
    swarm = _swarm(text)
    if swarm is not None:
        m = swarm["model"]
        out.append(GeneratorFinding("swarmui", "SwarmUI", str(m) if m else "SwarmUI", "diffusion",
                                    "PNG text 'parameters' (sui_image_params)", swarm["settings"],
                                    guess_base_model(str(m) if m else None), True))
    infotexts: list[tuple[str, str]] = []
    if "parameters" in text and fooocus is None and swarm is None:
        infotexts.append(("PNG text 'parameters'", text["parameters"]))
    for k in ("UserComment", "ImageDescription"):
        v = meta.exif.get(k)
        if isinstance(v, str):
            infotexts.append((f"EXIF {k}", v))
    for k, v in text.items():
        if k.startswith("comment"):
            infotexts.append((f"JPEG comment '{k}'", v))
    for where, value in infotexts:
        f = _a1111_finding(value, where)
        if f is not None:
            out.append(f)
            break
    for finder in (_comfy_finding, _invoke_finding):
        f = finder(text)
        if f is not None:
            out.append(f)
    nai = parse_novelai(text)
    if nai is not None:
        out.append(GeneratorFinding("novelai", "NovelAI", str(nai["model"]), "diffusion",
                                    "PNG text 'Software'/'Comment'", nai["settings"],
                                    guess_base_model(str(nai["model"])), True))
    ed = _easy_diffusion(text)
    if ed is not None:
        m = ed["model"]
        out.append(GeneratorFinding("easy-diffusion", "Easy Diffusion", str(m) if m else "Easy Diffusion",
                                    "diffusion", "PNG text chunks", ed["settings"],
                                    guess_base_model(str(m) if m else None), True))
    dt = _draw_things(xmp)
    if dt is not None:
        m = dt["model"]
        out.append(GeneratorFinding("drawthings", "Draw Things", str(m) if m else "Draw Things", "diffusion",
                                    "XMP xmp:CreatorTool + exif:UserComment", dt["settings"],
                                    guess_base_model(str(m) if m else None), bool(dt["settings"])))

    # 2. names in tool fields, 3. unambiguous phrases in free text
    seen_tools = {f.tool for f in out}
    tools, texts = _field_values(meta, xmp, iim)
    for markers, fields in ((_TOOL_MARKERS, tools), (_TEXT_MARKERS, texts)):
        for where, value in fields:
            for mk in markers:
                hit = mk.pattern.search(value)
                if not hit:
                    continue
                generator, tool, family = mk.generator, mk.tool, mk.family
                if tool == "named-in-caption":  # "generated with X": name X as the tool markers do
                    named = hit.group(3)
                    canon = next((t for t in _TOOL_MARKERS if t.pattern.search(named)), None)
                    generator, tool, family = ((canon.generator, canon.tool, canon.family) if canon
                                               else (named, re.sub(r"\W+", "-", named.lower()), "unknown"))
                if tool in seen_tools:
                    break
                seen_tools.add(tool)
                out.append(GeneratorFinding(tool, generator, generator, family, where,
                                            {"value": _excerpt(value)}))
                break
    if not out:
        for where, value in texts:
            if _WEAK_PHRASES.search(value):
                out.append(GeneratorFinding("ai-phrase", "a phrase mentioning AI", "unknown AI generator",
                                            "unknown", where, {"value": _excerpt(value)}, strength="weak",
                                            note="a caption or description mentions AI generation"))
                break
    return out


# --------------------------------------------------------------------------- editors

_EDITORS: tuple[tuple[str, str], ...] = (
    ("Adobe Lightroom", r"lightroom"),
    ("Adobe Photoshop", r"photoshop"),
    ("Adobe Camera Raw", r"camera raw"),
    ("GIMP", r"\bgimp\b"),
    ("Snapseed", r"snapseed"),
    ("Affinity Photo", r"affinity photo"),
    ("Pixelmator", r"pixelmator"),
    ("Capture One", r"capture one"),
    ("darktable", r"darktable"),
    ("RawTherapee", r"rawtherapee"),
    ("Luminar", r"luminar"),
    ("PaintShop Pro", r"paintshop|paint shop pro"),
    ("Paint.NET", r"paint\.net"),
    ("Krita", r"\bkrita\b"),
    ("Photopea", r"photopea"),
    ("Picasa", r"picasa"),
    ("Canva", r"\bcanva\b"),
    ("Fotor", r"\bfotor\b"),
    ("PicsArt", r"picsart"),
    ("VSCO", r"\bvsco\b"),
    ("Facetune", r"facetune"),
    ("Meitu", r"\bmeitu\b"),
    ("DxO PhotoLab", r"\bdxo\b"),
    ("ON1 Photo", r"\bon1\b"),
    ("Corel", r"\bcorel\b"),
    ("ACDSee", r"acdsee"),
    ("Microsoft Photos", r"microsoft photos|windows photo"),
    ("Apple Photos", r"^photos \d"),
    ("ImageMagick", r"imagemagick"),
)
_EDITORS_RE = [(name, re.compile(p, re.IGNORECASE)) for name, p in _EDITORS]


def find_editors(meta: ImageMetadata, xmp: XmpProperties, iim: Mapping[str, Any] | None = None
                 ) -> list[EditorFinding]:
    """Image editors named in EXIF ``Software``, XMP ``CreatorTool``/history or IIM ``OriginatingProgram``.

    Examples
    --------
    >>> from fakescope.types import ImageMetadata
    >>> from fakescope.provenance.iptc import parse_xmp
    >>> m = ImageMetadata("JPEG", 8, 8, "RGB", exif={"Software": "Adobe Photoshop 25.0 (Windows)"})
    >>> [e.name for e in find_editors(m, parse_xmp(None))]
    ['Adobe Photoshop']
    """
    iim = iim or {}
    fields: list[tuple[str, str]] = []
    for k in ("Software", "ProcessingSoftware"):
        v = meta.exif.get(k)
        if isinstance(v, str):
            fields.append((f"EXIF {k}", v))
    if isinstance(meta.text.get("Software"), str):
        fields.append(("PNG text 'Software'", meta.text["Software"]))
    for prefix, local in (("xmp", "CreatorTool"), ("stEvt", "softwareAgent"), ("tiff", "Software")):
        for v in xmp.get(prefix, local):
            fields.append((f"XMP {prefix}:{local}", v))
    if isinstance(iim.get("OriginatingProgram"), str):
        fields.append(("IPTC-IIM OriginatingProgram", iim["OriginatingProgram"]))
    out: list[EditorFinding] = []
    seen: set[str] = set()
    for where, value in fields:
        for name, rx in _EDITORS_RE:
            if rx.search(value.strip()):
                if name not in seen:
                    seen.add(name)
                    out.append(EditorFinding(name, _excerpt(value, 80), where))
                break
    return out


# --------------------------------------------------------------------------- evidence

def _settings_phrase(params: Mapping[str, Any]) -> str:
    bits = []
    for keys, fmt in ((("Steps", "steps"), "{} steps"), (("Sampler", "sampler"), "sampler {}"),
                      (("Seed", "seed"), "seed {}")):
        for k in keys:
            if k in params and params[k] not in (None, ""):
                bits.append(fmt.format(params[k]))
                break
    return ", ".join(bits)


def generator_evidence(findings: Iterable[GeneratorFinding]) -> list[Evidence]:
    """One Evidence item for the most informative generator finding (the others in its details).

    Parameters
    ----------
    findings : from :func:`find_generators`, most informative first.

    Returns
    -------
    list of Evidence
        Empty when there are no findings.
    """
    findings = list(findings)
    if not findings:
        return []
    lead = findings[0]
    details: dict[str, Any] = {"generator": lead.generator, "family": lead.family, "tool": lead.tool,
                               "parameters": dict(lead.parameters), "where": lead.where, "signed": False}
    if lead.base_model:
        details["base_model"] = lead.base_model
    if lead.note:
        details["note"] = lead.note
    if len(findings) > 1:
        details["also_found"] = [f.to_dict() for f in findings[1:]]
    if lead.strength == "weak":
        if lead.tool == "ai-phrase":
            summary = (f"The file's description mentions AI generation (\"{lead.parameters.get('value', '')}\"), "
                       "a hint only: a caption can talk about AI without the picture being generated.")
            score = 0.7
        else:
            summary = (f"The file records that it was {lead.note or 'processed by an AI tool'} "
                       f"({lead.tool_name}, {lead.generator}); it was enlarged by AI, not necessarily generated.")
            score = 0.65
        return [Evidence(source="generator", kind="provenance", score=score, weight="weak", summary=summary,
                         details=details)]
    if lead.structured:
        what = lead.generator if lead.generator != lead.tool_name else "model not named"
        settings = _settings_phrase(lead.parameters)
        extra = f"{what}" + (f", {settings}" if settings else "")
        img2img = f" ({lead.note})" if lead.note else ""
        summary = (f"The file carries the generation settings of {lead.tool_name} ({extra}){img2img}: "
                   "it was made with an AI image generator.")
    else:
        summary = (f"The file's metadata ({lead.where}) names the AI image generator {lead.generator}: "
                   "unsigned, but a self-declaration of AI origin.")
    return [Evidence(source="generator", kind="provenance", score=0.99, weight="strong", summary=summary,
                     details=details)]


def editor_evidence(editors: Iterable[EditorFinding]) -> list[Evidence]:
    """A weak item saying which editor last saved the file (editing is not generation)."""
    editors = list(editors)
    if not editors:
        return []
    names = ", ".join(e.name for e in editors)
    return [Evidence(
        source="editor", kind="provenance", score=0.55, weight="weak",
        summary=(f"The file was edited or saved with {names}: editing is not generation, but the pixels "
                 "are not straight from a camera."),
        details={"editors": [e.to_dict() for e in editors]})]

