"""IPTC digital source type in real XMP packets (JPEG APP1, PNG iTXt), IPTC AI fields, IPTC-IIM."""

from __future__ import annotations

import pytest

from fakescope.provenance import ABSENCE_SUMMARY, analyze_provenance, provenance_report
from fakescope.provenance.generators import find_editors
from fakescope.provenance.iptc import (
    DIGITAL_SOURCE_TYPES,
    IPTC_DST_PREFIX,
    NS,
    iim_from_jpeg,
    parse_xmp,
    source_type,
)

EXT = {"Iptc4xmpExt": NS["Iptc4xmpExt"]}

# how each term must be weighed
EXPECTED = {
    "trainedAlgorithmicMedia": ("strong", 0.99), "compositeWithTrainedAlgorithmicMedia": ("strong", 0.99),
    "algorithmicMedia": ("strong", 0.99), "compositeSynthetic": ("strong", 0.99),
    "trainedAlgorithmicData": ("strong", 0.99),
    "digitalCapture": ("weak", 0.35), "computationalCapture": ("weak", 0.35), "negativeFilm": ("weak", 0.35),
    "positiveFilm": ("weak", 0.35), "print": ("weak", 0.35), "compositeCapture": ("weak", 0.35),
    "algorithmicallyEnhanced": ("weak", 0.6),
    "humanEdits": ("weak", 0.4), "minorHumanEdits": ("weak", 0.4), "digitalCreation": ("weak", 0.4),
    "digitalArt": ("weak", 0.4),
    "softwareImage": ("none", 0.5), "dataDrivenMedia": ("none", 0.5), "virtualRecording": ("none", 0.5),
    "screenCapture": ("none", 0.5), "composite": ("none", 0.5),
}


def test_vocabulary_is_complete():
    assert set(EXPECTED) | {"empty"} == set(DIGITAL_SOURCE_TYPES)
    for t in DIGITAL_SOURCE_TYPES.values():
        assert t.meaning and t.name and t.uri.startswith(IPTC_DST_PREFIX)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_type_in_jpeg_xmp(code, small_rgb, builders, to_sample):
    xmp = builders["xmp"](f'<Iptc4xmpExt:DigitalSourceType>{IPTC_DST_PREFIX}{code}</Iptc4xmpExt:DigitalSourceType>',
                          EXT)
    ev = analyze_provenance(to_sample(builders["jpeg"](small_rgb, xmp=xmp)))
    (item,) = [e for e in ev if e.source == "iptc"]
    weight, score = EXPECTED[code]
    assert (item.weight, item.score) == (weight, pytest.approx(score))
    assert item.details["digital_source_type"] == code and item.details["signed"] is False
    assert item.details["meaning"] == DIGITAL_SOURCE_TYPES[code].meaning
    assert item.summary.endswith(".") and code in item.summary
    if weight == "strong":
        assert "unsigned" in item.summary
        assert not any(e.summary == ABSENCE_SUMMARY for e in ev)
    if weight == "weak" and score < 0.5:
        assert "weak" in item.summary or "unsigned" in item.summary


def test_attribute_form_in_png_itxt(small_rgb, builders, to_sample):
    xmp = builders["xmp"]("", EXT).replace(
        'rdf:about=""', f'rdf:about="" Iptc4xmpExt:DigitalSourceType="{IPTC_DST_PREFIX}trainedAlgorithmicMedia"')
    ev = analyze_provenance(to_sample(builders["png"](small_rgb, xmp=xmp)))
    (item,) = [e for e in ev if e.source == "iptc"]
    assert item.weight == "strong" and item.details["where"].startswith("XMP")


def test_ai_wins_over_capture_and_ai_fields(small_rgb, builders, to_sample):
    body = (f"<Iptc4xmpExt:DigitalSourceType>{IPTC_DST_PREFIX}digitalCapture</Iptc4xmpExt:DigitalSourceType>"
            f"<Iptc4xmpExt:DigitalSourceType>{IPTC_DST_PREFIX}compositeWithTrainedAlgorithmicMedia"
            "</Iptc4xmpExt:DigitalSourceType>"
            "<Iptc4xmpExt:AISystemUsed>Imagen 3</Iptc4xmpExt:AISystemUsed>"
            "<Iptc4xmpExt:AIPromptInformation>a red fox</Iptc4xmpExt:AIPromptInformation>")
    ev = analyze_provenance(to_sample(builders["jpeg"](small_rgb, xmp=builders["xmp"](body, EXT))))
    (item,) = [e for e in ev if e.source == "iptc"]
    assert item.details["digital_source_type"] == "compositeWithTrainedAlgorithmicMedia"
    assert item.details["also_declared"] == ["digitalCapture"]
    assert item.details["generator"] == "Imagen 3" and item.details["ai_prompt"] == "a red fox"


def test_ai_system_alone_is_strong(small_rgb, builders, to_sample):
    xmp = builders["xmp"]("<Iptc4xmpExt:AISystemUsed>FLUX.1 [pro]</Iptc4xmpExt:AISystemUsed>", EXT)
    (item,) = [e for e in analyze_provenance(to_sample(builders["jpeg"](small_rgb, xmp=xmp))) if e.source == "iptc"]
    assert item.weight == "strong" and item.details["generator"] == "FLUX.1 [pro]"


def test_source_type_forms():
    assert source_type("digsrctype:trainedAlgorithmicMedia").code == "trainedAlgorithmicMedia"
    assert source_type("https://cv.iptc.org/newscodes/digitalsourcetype/PRINT").code == "print"
    assert source_type("http://c2pa.org/digitalsourcetype/trainedAlgorithmicData").category == "ai"
    assert source_type("nonsense") is None


def test_malformed_xmp_falls_back_to_patterns():
    broken = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
              f'Iptc4xmpExt:DigitalSourceType="{IPTC_DST_PREFIX}trainedAlgorithmicMedia" '
              'xmp:CreatorTool="Some Tool"><unclosed></rdf:RDF>')
    p = parse_xmp(broken)
    assert not p.parsed
    assert p.get("Iptc4xmpExt", "DigitalSourceType") == [IPTC_DST_PREFIX + "trainedAlgorithmicMedia"]
    assert p.first("xmp", "CreatorTool") == "Some Tool"


def test_entities_are_never_expanded():
    evil = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="&b;"/></rdf:RDF></x:xmpmeta>')
    p = parse_xmp(evil)
    assert not p.parsed and p.first("xmp", "CreatorTool") == "&b;"


def test_xmp_lists_are_read():
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
           '<rdf:li xml:lang="x-default">A lake at dawn</rdf:li></rdf:Alt></dc:description></rdf:Description>'
           '</rdf:RDF></x:xmpmeta>')
    assert parse_xmp(xmp).get("dc", "description") == ["A lake at dawn"]
    assert not parse_xmp(None)


def test_iim_in_jpeg(small_rgb, builders, to_sample):
    jpeg = builders["iim"](builders["jpeg"](small_rgb), {110: "Reuters", 115: "Reuters Pictures",
                                                        120: "A protest in the city centre", 25: "news",
                                                        65: "Adobe Photoshop"})
    iim = iim_from_jpeg(jpeg)
    assert iim["Credit"] == "Reuters" and iim["Caption-Abstract"].startswith("A protest")
    assert iim["Keywords"] == ["news"]
    s = to_sample(jpeg)
    rep = provenance_report(s)
    assert rep["iptc"]["iim"]["Source"] == "Reuters Pictures"
    # the originating program is an editor: reported as such, weakly
    assert [e.name for e in find_editors(s.metadata, parse_xmp(s.metadata.xmp), iim)] == ["Adobe Photoshop"]
    (ed,) = [e for e in analyze_provenance(s) if e.source == "editor"]
    assert ed.weight == "weak"


def test_iim_can_name_a_generator(small_rgb, builders, to_sample):
    jpeg = builders["iim"](builders["jpeg"](small_rgb), {110: "Made with Google AI"})
    ev = analyze_provenance(to_sample(jpeg))
    (item,) = [e for e in ev if e.source == "generator"]
    assert item.weight == "strong" and item.details["tool"] == "google"
    assert item.details["where"] == "IPTC-IIM Credit"


# the terms issue 17 names, beyond trainedAlgorithmicMedia: their IPTC definition and their effect on the label
NAMED = {
    "compositeWithTrainedAlgorithmicMedia": ("The compositing of trained algorithmic media with some other media",
                                             "partial fake"),
    "algorithmicallyEnhanced": ("Modification or correction by algorithm without changing the main content",
                                "weak hint toward AI"),
    "compositeSynthetic": ("Mix or composite of several elements, at least one of which is synthetic",
                           "decides the label: ai-generated"),
    "digitalCapture": ("The media was captured from a real-life source", "weak hint toward real"),
    "screenCapture": ("The media is a capture of the contents of the screen", "nothing either way"),
}


@pytest.mark.parametrize("code", sorted(NAMED))
def test_named_terms_carry_definition_and_effect(code, small_rgb, builders, to_sample):
    definition, effect = NAMED[code]
    t = DIGITAL_SOURCE_TYPES[code]
    assert t.definition.startswith(definition) and effect in t.effect
    xmp = builders["xmp"](f'<Iptc4xmpExt:DigitalSourceType>{IPTC_DST_PREFIX}{code}</Iptc4xmpExt:DigitalSourceType>',
                          EXT)
    sample = to_sample(builders["jpeg"](small_rgb, xmp=xmp))
    (item,) = [e for e in analyze_provenance(sample) if e.source == "iptc"]
    assert item.details["iptc_definition"] == t.definition and item.details["effect"] == t.effect
    rep = provenance_report(sample)
    assert rep["iptc"]["digital_source_types"][0]["effect"] == t.effect
    if code == "compositeWithTrainedAlgorithmicMedia":
        assert "a partial fake" in item.summary and item.weight == "strong"
    if code == "screenCapture":
        assert "a screenshot can show anything" in item.summary and item.weight == "none"


def test_composite_in_a_c2pa_manifest_says_partial_fake(small_rgb, builders, to_sample, test_signer):
    signed = test_signer(builders["png"](small_rgb), "image/png", source_type="compositeWithTrainedAlgorithmicMedia")
    (item,) = [e for e in analyze_provenance(to_sample(signed)) if e.source == "c2pa"]
    assert item.weight == "strong" and "a partial fake" in item.summary
    assert item.details["declared"]["effect"] == DIGITAL_SOURCE_TYPES["compositeWithTrainedAlgorithmicMedia"].effect
