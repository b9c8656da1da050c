"""Images that carry provenance metadata, made in the test that needs them: C2PA manifests signed with a throwaway
certificate chain (made here with `cryptography`), XMP DigitalSourceType, generator PNG text chunks, EXIF.

`signer()` makes a fresh CA and an end-entity ES256 signing certificate with the extensions C2PA requires
(digitalSignature key usage, the emailProtection extended key usage, not a CA), each time it is called; nothing
is kept on disk beyond the images a test writes into its tmp_path.
"""

from __future__ import annotations

import datetime
import io
import struct
from pathlib import Path

from PIL import Image, PngImagePlugin

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
AI_GENERATED = IPTC + "trainedAlgorithmicMedia"
AI_EDITED = IPTC + "compositeWithTrainedAlgorithmicMedia"
CAPTURE = IPTC + "digitalCapture"
A1111_PARAMETERS = ("a lighthouse at dusk, oil painting\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, "
                    "CFG scale: 7, Seed: 1234, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly")
COMFYUI_PROMPT = '{"3": {"inputs": {"seed": 1, "steps": 20}, "class_type": "KSampler"}}'
COMFYUI_WORKFLOW = '{"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": []}'


def jpeg_bytes(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (120, 30, 200), **options) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (40, 160, 90)).save(buffer, fmt)
    return buffer.getvalue()


def signer():  # noqa: ANN201 - a c2pa.Signer
    """A c2pa Signer with a new throwaway chain: a self-signed CA and an ES256 end-entity certificate it issued."""
    import c2pa
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "imgcheck tests")])

    def usage(**allowed: bool) -> x509.KeyUsage:
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        return x509.KeyUsage(**{**flags, **allowed})

    def certificate(subject: str, issuer: x509.Name, public_key, issuer_key, ca: bool) -> x509.Certificate:  # noqa: ANN001
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
                   .add_extension(usage(key_cert_sign=True, crl_sign=True) if ca else usage(digital_signature=True),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
        if not ca:
            builder = (builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                             critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                      critical=False))
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("imgcheck test CA", name("imgcheck test CA"), ca_key.public_key(), ca_key, ca=True)
    leaf = certificate("imgcheck test signer", ca.subject, key.public_key(), ca_key, ca=False)
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None))


def c2pa_signed(path: Path, source: bytes, source_type: str, agent: str, mime: str = "image/jpeg",
                signing=None) -> Path:  # noqa: ANN001 - a c2pa.Signer
    """Write `source` with a C2PA manifest whose c2pa.created action claims `source_type` by `agent`."""
    import c2pa

    manifest = {"claim_generator_info": [{"name": "imgcheck tests", "version": "1.0"}], "title": path.name,
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": source_type, "softwareAgent": {"name": agent}}]}}]}
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    out = io.BytesIO()
    c2pa.Builder(manifest, context=context).sign(signing or signer(), mime, io.BytesIO(source), out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())
    return path


def tamper_pixels(path: Path) -> Path:
    """Change the JPEG's compressed pixel data (after its last marker segment) so the C2PA data hash no longer
    matches; the file still decodes."""
    data = bytearray(path.read_bytes())
    start = data.rindex(b"\xff\xda") + 20  # into the entropy-coded data after the start-of-scan header
    for i in range(start, min(start + 8, len(data) - 2)):
        data[i] ^= 0x21
    path.write_bytes(bytes(data))
    return path


def xmp_packet(source_type: str | None, creator_tool: str | None = None, model: str | None = None,
               as_element: bool = False) -> bytes:
    """An XMP packet with Iptc4xmpExt:DigitalSourceType (an attribute, or an element with rdf:resource)."""
    attributes = ""
    body = ""
    if source_type and as_element:
        body = f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{source_type}"/>'
    elif source_type:
        attributes += f' Iptc4xmpExt:DigitalSourceType="{source_type}"'
    if creator_tool:
        attributes += f' xmp:CreatorTool="{creator_tool}"'
    if model:
        attributes += f' tiff:Model="{model}"'
    return (f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
            f' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
            f' xmlns:tiff="http://ns.adobe.com/tiff/1.0/"{attributes}>{body}</rdf:Description></rdf:RDF>'
            f'</x:xmpmeta><?xpacket end="w"?>').encode()


def jpeg_with_xmp(path: Path, packet: bytes) -> Path:
    """A JPEG whose APP1 segment holds `packet` (written by hand: no Pillow version dependence)."""
    data = jpeg_bytes()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + packet
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[:2] + segment + data[2:])
    return path


def png_with_text(path: Path, chunks: dict[str, str], compressed: bool = False) -> Path:
    """A PNG with tEXt (or iTXt/zTXt) chunks."""
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        if compressed:
            info.add_itxt(key, value, zip=True)
        else:
            info.add_text(key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), (10, 80, 200)).save(path, "PNG", pnginfo=info)
    return path


def jpeg_with_exif(path: Path, make: str | None = None, model: str | None = None, software: str | None = None,
                   user_comment: bytes | None = None) -> Path:
    """A JPEG with the given EXIF Make, Model, Software and (Exif IFD) UserComment."""
    exif = Image.Exif()
    for tag, value in ((0x010F, make), (0x0110, model), (0x0131, software)):
        if value is not None:
            exif[tag] = value
    if user_comment is not None:
        exif.get_ifd(0x8769)[0x9286] = user_comment
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), (200, 200, 30)).save(path, "JPEG", exif=exif.tobytes())
    return path


def a1111_user_comment(text: str = A1111_PARAMETERS) -> bytes:
    """UserComment as AUTOMATIC1111 writes it into JPEGs (piexif's "unicode": UTF-16 big-endian)."""
    return b"UNICODE\x00" + text.encode("utf-16-be")
