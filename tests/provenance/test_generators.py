"""Generator parameters in real PNG chunks, JPEG EXIF and XMP, as the tools write them."""

from __future__ import annotations

import json

import pytest

from fakescope.provenance import ABSENCE_SUMMARY, analyze_provenance, provenance_report

NS_XMP = {"xmp": "http://ns.adobe.com/xap/1.0/", "photoshop": "http://ns.adobe.com/photoshop/1.0/",
          "exif": "http://ns.adobe.com/exif/1.0/"}

A1111 = ("portrait of an astronaut, highly detailed\nNegative prompt: blurry, lowres\n"
         "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 1234567, Size: 512x768, "
         "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: \"detail: 1a2b3c\", Version: v1.7.0")


def _gen(ev):
    items = [e for e in ev if e.source == "generator"]
    assert len(items) == 1, [e.to_dict() for e in ev]
    return items[0]


def test_automatic1111_png(small_rgb, builders, to_sample):
    ev = analyze_provenance(to_sample(builders["png"](small_rgb, text={"parameters": A1111})))
    g = _gen(ev)
    assert g.weight == "strong" and g.score == pytest.approx(0.99) and g.kind == "provenance"
    d = g.details
    assert d["generator"] == "v1-5-pruned-emaonly" and d["tool"] == "automatic1111" and d["family"] == "diffusion"
    assert d["base_model"] == "Stable Diffusion 1.x"
    p = d["parameters"]
    assert p["Steps"] == 30 and p["Sampler"] == "DPM++ 2M Karras" and p["CFG scale"] == 7.5
    assert p["Seed"] == 1234567 and p["Size"] == "512x768" and p["Model hash"] == "6ce0161689"
    assert p["prompt"] == "portrait of an astronaut, highly detailed" and p["negative_prompt"] == "blurry, lowres"
    assert "AUTOMATIC1111" in g.summary and "seed 1234567" in g.summary
    assert not any(e.summary == ABSENCE_SUMMARY for e in ev)


def test_forge_version_and_img2img(small_rgb, builders, to_sample):
    text = ("a castle\nSteps: 25, Sampler: Euler, CFG scale: 5, Seed: 7, Size: 1024x1024, "
            "Model: juggernautXL_v9, Denoising strength: 0.45, Version: f2.0.1v1.10.1-previous-313-g8a042934")
    g = _gen(analyze_provenance(to_sample(builders["png"](small_rgb, text={"parameters": text}))))
    assert g.details["tool"] == "forge" and g.details["base_model"] == "Stable Diffusion XL"
    assert "image-to-image" in g.details["note"] and "image-to-image" in g.summary


def test_a1111_in_jpeg_usercomment(small_rgb, builders, to_sample):
    # the web UI stores the infotext in EXIF UserComment, UTF-16 with the "UNICODE" prefix (piexif)
    comment = b"UNICODE\x00" + A1111.encode("utf-16-be")
    jpeg = builders["jpeg"](small_rgb, exif_ifd={0x9286: comment})
    g = _gen(analyze_provenance(to_sample(jpeg)))
    assert g.details["generator"] == "v1-5-pruned-emaonly" and g.details["where"] == "EXIF UserComment"


def test_postprocess_only_is_weak(small_rgb, builders, to_sample):
    text = "Postprocess upscale by: 4, Postprocess upscaler: R-ESRGAN 4x+"
    g = _gen(analyze_provenance(to_sample(builders["png"](small_rgb, text={"parameters": text}))))
    assert g.weight == "weak" and 0.5 < g.score < 0.9 and "upscal" in g.summary


COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 156680208700286, "steps": 20, "cfg": 8.0,
                                                "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                                                "model": ["4", 0], "positive": ["6", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a bottle with a galaxy inside", "clip": ["4", 1]}},
}


def test_comfyui_prompt(small_rgb, builders, to_sample):
    png = builders["png"](small_rgb, text={"prompt": json.dumps(COMFY_PROMPT), "workflow": json.dumps({"nodes": []})})
    g = _gen(analyze_provenance(to_sample(png)))
    d = g.details
    assert d["tool"] == "comfyui" and d["generator"] == "sd_xl_base_1.0.safetensors"
    assert d["base_model"] == "Stable Diffusion XL"
    assert d["parameters"]["seed"] == 156680208700286 and d["parameters"]["steps"] == 20
    assert d["parameters"]["width"] == 1024 and d["parameters"]["prompts"] == ["a bottle with a galaxy inside"]


def test_comfyui_unet_loader_and_workflow_only(small_rgb, builders, to_sample):
    prompt = {"12": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors",
                                                             "weight_dtype": "fp8_e4m3fn"}}}
    g = _gen(analyze_provenance(to_sample(builders["png"](small_rgb, text={"prompt": json.dumps(prompt)}))))
    assert g.details["generator"] == "flux1-dev.safetensors" and g.details["base_model"] == "FLUX.1"
    workflow = {"nodes": [{"id": 4, "type": "CheckpointLoaderSimple",
                           "widgets_values": ["dreamshaper_8.safetensors"]},
                          {"id": 9, "type": "UpscaleModelLoader", "widgets_values": ["4x-UltraSharp.pth"]}]}
    g = _gen(analyze_provenance(to_sample(builders["png"](small_rgb, text={"workflow": json.dumps(workflow)}))))
    assert g.details["generator"] == "dreamshaper_8.safetensors" and g.details["parameters"]["models"] == [
        "dreamshaper_8.safetensors"]


def test_invokeai_versions(small_rgb, builders, to_sample):
    v3 = {"generation_mode": "sdxl_txt2img", "positive_prompt": "a fox", "seed": 42, "steps": 30,
          "cfg_scale": 6.5, "width": 1024, "height": 1024,
          "model": {"name": "Juggernaut XL v9", "base": "sdxl", "type": "main"}, "app_version": "4.2.4"}
    g = _gen(analyze_provenance(to_sample(builders["png"](small_rgb, text={"invokeai_metadata": json.dumps(v3)}))))
    assert g.details["tool"] == "invokeai" and g.details["generator"] == "Juggernaut XL v9"
    assert g.details["base_model"] == "Stable Diffusion XL" and g.details["parameters"]["seed"] == 42
    v2 = {"model": "stable diffusion", "model_weights": "stable-diffusion-1.5", "app_id": "invoke-ai/InvokeAI",
          "app_version": "v2.2.4", "image": {"prompt": [{"prompt": "a lighthouse", "weight": 1.0}], "steps": 50,
                                            "cfg_scale": 7.5, "seed": 3, "sampler": "k_lms", "type": "txt2img"}}
    g = _gen(analyze_provenance(to_sample(builders["png"](small_rgb, text={"sd-metadata": json.dumps(v2)}))))
    assert g.details["generator"] == "stable-diffusion-1.5"
    assert g.details["parameters"]["positive_prompt"] == "a lighthouse"
    dream = '"a lighthouse at dusk" -s 50 -S 2843 -W 512 -H 512 -C 7.5 -A k_lms'
    g = _gen(analyze_provenance(to_sample(builders["png"](small_rgb, text={"Dream": dream}))))
    assert g.details["parameters"]["seed"] == 2843
    assert g.details["parameters"]["positive_prompt"] == "a lighthouse at dusk"


def test_novelai(small_rgb, builders, to_sample):
    text = {"Software": "NovelAI", "Source": "NovelAI Diffusion V4 4F49EC75", "Title": "NovelAI generated image",
            "Description": "1girl, hat", "Comment": json.dumps({"prompt": "1girl, hat", "steps": 28, "scale": 5.0,
                                                                "seed": 987, "sampler": "k_euler_ancestral",
                                                                "uc": "lowres"})}
    g = _gen(analyze_provenance(to_sample(builders["png"](small_rgb, text=text))))
    assert g.details["tool"] == "novelai" and g.details["generator"] == "NovelAI Diffusion V4 4F49EC75"
    assert g.details["parameters"]["seed"] == 987 and g.details["parameters"]["negative_prompt"] == "lowres"


def test_fooocus_and_swarmui(small_rgb, builders, to_sample):
    params = {"Prompt": "a red car", "Negative Prompt": "", "Styles": "['Fooocus V2']", "Performance": "Speed",
              "Resolution": "(1152, 896)", "Guidance Scale": 4, "Sharpness": 2,
              "Base Model": "juggernautXL_v8Rundiffusion.safetensors", "Refiner Model": "None",
              "Sampler": "dpmpp_2m_sde_gpu", "Scheduler": "karras", "Seed": "8812", "Version": "Fooocus v2.3.1"}
    png = builders["png"](small_rgb, text={"parameters": json.dumps(params), "fooocus_scheme": "fooocus"})
    g = _gen(analyze_provenance(to_sample(png)))
    assert g.details["tool"] == "fooocus" and g.details["generator"] == "juggernautXL_v8Rundiffusion.safetensors"
    assert g.details["parameters"]["seed"] == 8812
    swarm = {"sui_image_params": {"prompt": "a bridge", "model": "OfficialStableDiffusion/sd_xl_base_1.0",
                                  "seed": 5, "steps": 20, "cfgscale": 7, "width": 1024, "height": 1024}}
    g = _gen(analyze_provenance(to_sample(builders["png"](small_rgb, text={"parameters": json.dumps(swarm)}))))
    assert g.details["tool"] == "swarmui" and g.details["base_model"] == "Stable Diffusion XL"


def test_easy_diffusion(small_rgb, builders, to_sample):
    text = {"prompt": "a cabin in snow", "seed": "31", "use_stable_diffusion_model": "sd-v1-4",
            "num_inference_steps": "25", "guidance_scale": "7.5", "sampler_name": "euler_a"}
    g = _gen(analyze_provenance(to_sample(builders["png"](small_rgb, text=text))))
    assert g.details["tool"] == "easy-diffusion" and g.details["generator"] == "sd-v1-4"
    assert g.details["base_model"] == "Stable Diffusion 1.x"


@pytest.mark.parametrize("where,value,tool", [
    ("xmp-creator", "Adobe Firefly", "firefly"),
    ("xmp-credit", "Made with Google AI", "google"),
    ("exif-software", "DALL-E 3", "openai"),  # EXIF is ASCII
    ("exif-software", "Midjourney", "midjourney"),
    ("png-description", "a cat astronaut --ar 3:2 --v 6.0 Job ID: 1a2b3c4d-1234-4abc-9def-0123456789ab",
     "midjourney"),
    ("xmp-draw-things", "Draw Things", "drawthings"),
])
def test_service_markers(where, value, tool, small_rgb, builders, to_sample):
    if where == "xmp-creator":
        data = builders["jpeg"](small_rgb, xmp=builders["xmp"](f"<xmp:CreatorTool>{value}</xmp:CreatorTool>", NS_XMP))
    elif where == "xmp-credit":
        data = builders["jpeg"](small_rgb, xmp=builders["xmp"](f"<photoshop:Credit>{value}</photoshop:Credit>", NS_XMP))
    elif where == "exif-software":
        data = builders["jpeg"](small_rgb, exif={0x0131: value})
    elif where == "png-description":
        data = builders["png"](small_rgb, text={"Description": value, "Author": "someone"})
    else:
        uc = json.dumps({"c": "a koi pond", "model": "sd_xl_base_1.0_f16.ckpt", "seed": 11, "steps": 30})
        data = builders["jpeg"](small_rgb, xmp=builders["xmp"](
            f"<xmp:CreatorTool>{value}</xmp:CreatorTool><exif:UserComment><rdf:Alt><rdf:li xml:lang=\"x-default\">"
            f"{uc}</rdf:li></rdf:Alt></exif:UserComment>", NS_XMP))
    g = _gen(analyze_provenance(to_sample(data)))
    assert g.weight == "strong" and g.details["tool"] == tool and g.score == pytest.approx(0.99)
    if tool == "drawthings":
        assert g.details["generator"] == "sd_xl_base_1.0_f16.ckpt" and g.details["parameters"]["seed"] == 11


def test_editor_is_weak_not_generation(small_rgb, builders, to_sample):
    ev = analyze_provenance(to_sample(builders["jpeg"](small_rgb, exif={0x0131: "Adobe Photoshop 25.0 (Windows)"})))
    assert not [e for e in ev if e.source == "generator"]
    (ed,) = [e for e in ev if e.source == "editor"]
    assert ed.weight == "weak" and 0.5 <= ed.score <= 0.55
    assert "Adobe Photoshop" in ed.summary and "editing is not generation" in ed.summary
    assert any(e.summary == ABSENCE_SUMMARY for e in ev)


@pytest.mark.parametrize("software", ["GIMP 2.10.36", "Snapseed 2.0", "Adobe Lightroom 7.1 (Macintosh)",
                                      "darktable 4.6.1"])
def test_other_editors(software, small_rgb, builders, to_sample):
    ev = analyze_provenance(to_sample(builders["jpeg"](small_rgb, exif={0x0131: software})))
    (ed,) = [e for e in ev if e.source == "editor"]
    assert ed.weight == "weak"


def test_captions_about_ai_are_not_decisive(small_rgb, builders, to_sample):
    # a news photo's caption may name a generator without being generated
    caption = "Visitors at an exhibition about Stable Diffusion and Midjourney in Berlin"
    ev = analyze_provenance(to_sample(builders["jpeg"](small_rgb, exif={0x010E: caption})))
    assert not [e for e in ev if e.source == "generator" and e.weight == "strong"]
    caption = "Illustration: AI-generated image of a flooded street"
    ev = analyze_provenance(to_sample(builders["jpeg"](small_rgb, exif={0x010E: caption})))
    g = _gen(ev)
    assert g.weight == "weak" and g.score < 0.9


def test_camera_firmware_is_not_an_editor(small_rgb, builders, to_sample):
    ev = analyze_provenance(to_sample(builders["jpeg"](small_rgb, exif={0x0131: "Ver.1.10", 0x010F: "NIKON"})))
    assert not [e for e in ev if e.source in ("editor", "generator")]


def test_report_lists_findings(small_rgb, builders, to_sample):
    png = builders["png"](small_rgb, text={"parameters": A1111, "Software": "GIMP 2.10"})
    rep = provenance_report(to_sample(png))
    assert rep["generators"][0]["tool"] == "automatic1111" and rep["editors"][0]["editor"] == "GIMP"
