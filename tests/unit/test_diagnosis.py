"""The knowledge base and its classifier: verbatim messages seen in real cells map to
their entry, anything else is unclassified, and malformed entries are refused by name."""

from __future__ import annotations

import pytest

import patches
from compat.result import diagnosis

#: (exception type, verbatim message, the entry it must map to). The messages are copied
#: from the default matrix's results and from the upstream threads the entries cite.
VERBATIM = [
    ("ImportError", "cannot import name 'BeamSearchScorer' from 'transformers' (/work/main/.nox/"
     "matrix-cell-tts0-22-0-torch2-9-1-tf4-57-3-py3-11/lib/python3.11/site-packages/"
     "transformers/__init__.py)", "beam-search-scorer"),
    ("UnpicklingError", "Weights only load failed. This file can still be loaded, to do so you "
     "have two options, do those steps only if you trust the source of the checkpoint. \n\t(1) "
     "In PyTorch 2.6, we changed the default value of the `weights_only` argument in "
     "`torch.load` from `False` to `True`. ...\n\tWeightsUnpickler error: Unsupported global: "
     "GLOBAL TTS.tts.configs.xtts_config.XttsConfig was not an allowed global by default.",
     "weights-only-xtts-config"),
    ("AttributeError", "'GPT2InferenceModel' object has no attribute 'generate'",
     "generate-removed"),
    ("", "the first forward call saw 1 token, not the conditioning prefix of 57",
     "dropped-prefix"),
    ("AttributeError", "'int' object has no attribute 'device'", "stream-sampler"),
    ("AttributeError", "'int' object has no attribute '_pad_token_tensor'", "stream-sampler"),
    ("TypeError", "isin() received an invalid combination of arguments - got "
     "(test_elements=int, elements=Tensor, )", "stream-sampler"),
    ("ImportError", "TorchCodec is required for load_with_torchcodec. Please install "
     "torchcodec to use this function.", "torchaudio-torchcodec"),
    ("RuntimeError", "Could not load libtorchcodec. Likely causes:\n  1. FFmpeg is not "
     "properly installed in your environment.", "torchcodec-ffmpeg"),
    ("ImportError", "cannot import name 'LogitsWarper' from 'transformers' (/x/transformers/"
     "__init__.py)", "logits-warper"),
    ("AttributeError", "'NoneType' object has no attribute 'get_seq_length'", "cache-kwarg"),
    ("InstallError", "RuntimeError: TTS requires python >= 3.9 and < 3.12 but your Python "
     "version is 3.12.1 (main, May  9 2026, 07:36:11) [GCC 12.2.0]\nerror: Failed to build "
     "`tts==0.22.0`", "tts-python312"),
    ("OSError", "libc10_cuda.so: cannot open shared object file: No such file or directory",
     "cuda-torchaudio-cpu-torch"),
    ("RuntimeError", "Detected that PyTorch and TorchAudio were compiled with different CUDA "
     "versions. PyTorch has CUDA version 13.2 whereas TorchAudio has CUDA version 13.0. Please "
     "install the TorchAudio version that matches your PyTorch version.",
     "torch-torchaudio-cuda-mismatch"),
    ("ValueError", "numpy.dtype size changed, may indicate binary incompatibility. Expected 96 "
     "from C header, got 88 from PyObject", "numpy-abi"),
    ("InstallError", "error: No solution found when resolving dependencies\n  cause: Because "
     "gruut==2.2.3 depends on numpy>=1.19.0,<2.0.0 and tts>=0.22.0 depends on "
     "gruut[de]==2.2.3, we can conclude that tts>=0.22.0 depends on numpy>=1.19.0,<2.0.0.",
     "numpy2-resolve"),
    ("AttributeError", "module 'torch.utils._pytree' has no attribute 'register_pytree_node'",
     "transformers-needs-newer-torch"),
    ("ModuleNotFoundError", "No module named 'six'", "six-undeclared"),
    ("ModuleNotFoundError", "No module named 'click'", "click-undeclared"),
    # Found by the exploratory matrix (matrices/explore.toml) and the culprit finder.
    ("ModuleNotFoundError", "No module named 'pkg_resources'", "librosa-pkg-resources"),
    ("OSError", "/work/main/.nox/matrix-cell-coqui0-24-1-torch2-1-0-tf4-33-0-py3-10/lib/"
     "python3.10/site-packages/torchaudio/lib/_torchaudio.abi3.so: undefined symbol: "
     "aoti_torch_abi_version", "torchaudio-undeclared-torch"),
    ("ImportError", "\nCoqui TTS requires the PyTorch and Torchaudio libraries but they were "
     "not found in your\nenvironment. Check out the instructions on the installation page:",
     "coqui-torch-extras"),
    ("TypeError", "issubclass() arg 1 must be a class", "coqpit-fork-clash"),
    ("AssertionError", "built-in speakers: [] assert 'Tiny Speaker' in {}",
     "tts021-no-builtin-speakers"),
    ("AttributeError", "'GenerationConfig' object has no attribute 'do_stream'",
     "coqui-stream-config"),
    ("ImportError", "\nFrom Pytorch 2.9, the torchcodec library is required for audio IO, but "
     "it was not\nfound in your environment. You can install it with Coqui's `codec` extra:",
     "coqui-codec-extra"),
    ("ImportError", "cannot import name 'isin_mps_friendly' from 'transformers.pytorch_utils' "
     "(/work/main/.nox/matrix-cell-coqui0-27-1-torch2-8-0-tf5-20-2-py3-10/lib/python3.10/"
     "site-packages/transformers/pytorch_utils.py)", "isin-mps-friendly-removed"),
    ("ModuleNotFoundError", "Could not import module 'GPT2PreTrainedModel'. Are this object's "
     "requirements defined correctly? Set the logging verbosity to DEBUG for the original "
     "import error.", "transformers5-needs-torch26"),
    ("ImportError", "cannot import name 'TransformGetItemToIndex' from 'torch._dynamo."
     "_trace_wrapped_higher_order_op' (/v/torch/_dynamo/_trace_wrapped_higher_order_op.py)",
     "transformers5-needs-torch26"),
    # Kokoro (compat/engines/kokoro/known_breakages.toml), from its matrix's cells.
    ("AssertionError", "chunk 0: phonemes are a tuple, not a string: ('ˈola.', None); chunk 0: "
     "length 0.20 s outside [0.21, 5.2] s for 17 tokens", "kokoro07-misaki-g2p-tuple"),
    ("RuntimeError", "Numpy is not available", "kokoro-numpy2-old-torch"),
    ("", "waveform relative error 0.0156 (tolerance 0.001); pipeline waveform relative error "
     "0.0203 (tolerance 0.001)", "kokoro07-decoder-numerics"),
    ("InstallError", "error: No solution found when resolving dependencies\n  cause: Because "
     "kokoro==0.7.16 depends on numpy==1.26.4 and you require kokoro==0.7.16, we can conclude "
     "that you require numpy==1.26.4.", "kokoro07-numpy-pin"),
    ("ImportError", "enable_text_splitting=True requires Spacy: pip install spacy[ja]",
     "coqui-split-needs-spacy"),
    # StyleTTS2 (compat/engines/styletts2/known_breakages.toml): the cells' guard, the
    # package's code, and the reports each entry cites.
    ("NetworkBlocked", "tiers run offline; a test tried to resolve 'github.com'",
     "styletts2-f0-path-ignored"),
    ("TypeError", "unsupported operand type(s) for /: 'str' and 'str'",
     "styletts2-plbert-dir-str"),
    ("LookupError", "Resource punkt_tab not found. Please use the NLTK Downloader to obtain "
     "the resource", "styletts2-nltk-punkt-tab"),
    ("_pickle.UnpicklingError", "Weights only load failed. WeightsUnpickler error: "
     "Unsupported global: GLOBAL getattr was not an allowed global by default.",
     "styletts2-weights-only-release-files"),
    ("InstallError", "error: No solution found when resolving dependencies\n  cause: Because "
     "transformers==4.41.2 depends on huggingface-hub>=0.23.0,<1.0 and styletts2>=0.1.6 "
     "depends on huggingface-hub>=0.19.0,<0.20.0, we can conclude that styletts2>=0.1.6 and "
     "transformers==4.41.2 are incompatible.", "styletts2-hub-caps-transformers"),
    ("InstallError", "error: No solution found when resolving dependencies\n  cause: Because "
     "langchain>=0.1.0,<=0.1.20 depends on numpy<2 and styletts2>=0.1.6 depends on "
     "langchain>=0.1.0,<0.2.0, we can conclude that styletts2>=0.1.6 depends on numpy<2.",
     "styletts2-langchain-numpy1"),
    ("LookupError", "Resource punkt not found.\n  Please use the NLTK Downloader to obtain the "
     "resource:", "styletts2-nltk-punkt-offline"),
    ("InstallError", "error: Failed to download and build `tokenizers==0.19.1`\n  cause: "
     "Failed to parse: /root/.cache/uv/sdists-v11/pypi/tokenizers/0.19.1/x/src/pyproject.toml",
     "styletts2-py313-tokenizers"),
    ("NetworkBlocked", "tiers run offline; a test tried to resolve 'styletts2.github.io'",
     "styletts2-015-ref-s-fetches-voice"),
    ("ImportError", "cannot import name 'AlbertModel' from 'transformers' (/venv/lib/python3"
     ".10/site-packages/transformers/__init__.py)", "kokoro-transformers-albert"),
    ("", "audio codes differ (10% agree, 20 vs 20 codes); first-step logits differ by 0.962 "
     "(tolerance 0.0001); waveform relative error 0.0224 (tolerance 0.0001)",
     "coqui-0250-voice-cloning"),
    ("ImportError", "cannot import name 'BeamSearchScorer' from 'transformers' (/work/main/.nox/"
     "matrix-cell-coqui0-24-0-torch2-15-0-tf5-24-0-py3-11/lib/python3.11/site-packages/"
     "transformers/__init__.py)", "coqui-beam-search-scorer"),
    ("ImportError", "cannot import name 'LogitsWarper' from 'transformers' (/work/main/.nox/"
     "matrix-cell-coqui0-24-3-torch2-15-0-tf5-24-0-py3-11/lib/python3.11/site-packages/"
     "transformers/__init__.py)", "coqui-0243-logits-warper"),
    ("AttributeError", "'NoneType' object has no attribute 'shape'",
     "coqui-attention-mask-dropped"),
]


@pytest.mark.parametrize(("exc_type", "message", "entry"), VERBATIM,
                         ids=[v[2] + f"-{i}" for i, v in enumerate(VERBATIM)])
def test_verbatim_messages_map_to_their_entry(exc_type, message, entry):
    from compat.cli import kb

    shown_by = next(e.shown_by for e in diagnosis.load() if e.id == entry)
    cells = kb.matrix_cells()
    versions = next((kb.declared_versions(cells[c]) for c in shown_by), None)
    found = diagnosis.classify(exc_type, message, versions=versions)
    assert found is not None and found.id == entry


def test_every_entry_is_exercised_and_its_own_error_classifies_to_it():
    from compat.cli import kb

    assert {v[2] for v in VERBATIM} == {e.id for e in diagnosis.load()}
    cells = kb.matrix_cells()
    for entry in diagnosis.load():
        versions = next((kb.declared_versions(cells[c]) for c in entry.shown_by), None)
        assert diagnosis.classify(*entry.example(), versions=versions) == entry


def test_one_message_two_breakages_the_stack_decides():
    """TTS 0.22.0's stream sampler and coqui-tts 0.27's stream config both end in this."""
    message = ("AttributeError", "'GenerationConfig' object has no attribute 'do_stream'")
    legacy = {"TTS": "0.22.0", "transformers": "4.57.3", "torch": "2.5.1"}
    fork = {"coqui-tts": "0.27.1", "transformers": "5.20.2", "torch": "2.8.0"}
    assert diagnosis.classify(*message, versions=legacy).id == "stream-sampler"
    assert diagnosis.classify(*message, versions=fork).id == "coqui-stream-config"
    assert diagnosis.classify(*message).id == "stream-sampler"  # no stack: the first entry


@pytest.mark.parametrize(("exc_type", "message"), [
    ("ValueError", "the second tier broke"),
    ("KeyError", "'BeamSearchScorer'"),                       # right words, wrong shape
    ("AttributeError", "'GPT2Model' object has no attribute 'generate_speech'"),
    ("ImportError", "cannot import name 'Xtts' from 'TTS.tts.models.xtts'"),
])
def test_anything_else_is_unclassified(exc_type, message):
    assert diagnosis.classify(exc_type, message) is None


def test_the_exception_type_must_match_too():
    assert diagnosis.classify("ImportError", "No module named 'six'") is None  # not MNFE
    assert diagnosis.classify("builtins.AttributeError",
                              "'NoneType' object has no attribute 'get_seq_length'").id \
        == "cache-kwarg"


def test_ids_are_unique_across_the_engines_knowledge_bases():
    ids = [e.id for e in diagnosis.load()]
    assert len(ids) == len(set(ids)) and {e.engine for e in diagnosis.load()} == {
        "xtts", "kokoro", "styletts2", diagnosis.STACK}


def test_every_engine_reads_the_stacks_entries_after_its_own():
    """One owner for a breakage of the stack: every engine's failures meet it."""
    stack = [e for e in diagnosis.load() if e.engine == diagnosis.STACK]
    assert stack
    for engine in ("xtts", "kokoro", "styletts2"):
        mine = diagnosis.load(engine)
        assert mine[-len(stack):] == tuple(stack)
        assert {e.engine for e in mine} == {engine, diagnosis.STACK}


def test_every_shim_named_by_an_entry_exists():
    named = {e.shim for e in diagnosis.load() if e.shim}
    assert named == set(patches.SHIMS)


def test_shims_for_a_failure_come_from_the_knowledge_base():
    assert diagnosis.shims_for("ImportError", VERBATIM[0][1]) == ["beam_search"]
    assert diagnosis.shims_for("ValueError", "nothing known") == []


#: spaCy and click as coqui-tts >= 0.26.1 environments have them when text splitting works
#: (coqui-split-needs-spacy otherwise; click-undeclared when spaCy is there without click).
SPACY = {"spacy": "3.8.7", "click": "8.1.8"}


@pytest.mark.parametrize(("versions", "expected"), [
    ({"TTS": "0.22.0", "transformers": "4.57.3", "torch": "2.9.1", "torchaudio": "2.9.1"},
     {"beam-search-scorer", "weights-only-xtts-config", "generate-removed", "dropped-prefix",
      "stream-sampler", "logits-warper", "torchaudio-torchcodec"}),
    ({"TTS": "0.22.0", "transformers": "4.57.1", "torch": "2.1.2", "torchaudio": "2.1.2"},
     {"beam-search-scorer", "generate-removed", "dropped-prefix", "stream-sampler",
      "logits-warper", "transformers-needs-newer-torch"}),
    ({"python": "3.12.1", "TTS": "0.22.0", "transformers": "4.35.2", "torch": "2.1.2",
      "torchaudio": "2.1.2"}, {"tts-python312"}),
    ({"coqui-tts": "0.24.3", "spacy": "3.8.7", "transformers": "4.46.2", "torch": "2.5.1",
      "torchaudio": "2.5.1"}, {"click-undeclared"}),
    ({"coqui-tts": "0.25.0", "transformers": "4.46.2", "torch": "2.5.1", "torchaudio": "2.5.1"},
     {"coqui-0250-voice-cloning"}),
    ({"kokoro": "0.9.4", "transformers": "2.0.0", "torch": "1.12.0"},
     {"kokoro-transformers-albert"}),
    ({"TTS": "0.22.0", "transformers": "4.35.2", "torch": "2.1.2", "torchaudio": "2.1.2"},
     set()),
    ({**SPACY, "coqui-tts": "0.28.0",
      "transformers": "5.24.0", "torch": "2.9.1", "torchaudio": "2.9.1",
      "torchcodec": "0.8.1", "six": "1.17.0"}, {"cache-kwarg"}),
    ({**SPACY, "coqui-tts": "0.28.0",
      "transformers": "4.57.3", "torch": "2.9.1", "torchaudio": "2.9.1",
      "torchcodec": "0.8.1"}, {"six-undeclared"}),
    ({"TTS": "0.22.0", "transformers": "4.35.2", "torch": "2.1.2+cpu", "torchaudio": "2.1.2"},
     {"cuda-torchaudio-cpu-torch"}),
    ({**SPACY, "coqui-tts": "0.28.0",
      "transformers": "5.23.0", "torch": "2.15.0", "torchaudio": "2.11.0",
      "torchcodec": "0.8.1", "six": "1.17.0"}, {"torch-torchaudio-cuda-mismatch"}),
    ({"TTS": "0.22.0", "transformers": "4.35.2", "torch": "2.1.2", "torchaudio": "2.1.2",
      "numpy": "2.0.2"}, {"numpy-abi"}),
    ({"TTS": "0.21.0", "transformers": "4.35.2", "torch": "2.1.2", "torchaudio": "2.1.2",
      "librosa": "0.10.0"}, {"librosa-pkg-resources", "tts021-no-builtin-speakers"}),
    ({"TTS": "0.21.0", "transformers": "4.35.2", "torch": "2.1.2", "torchaudio": "2.1.2",
      "librosa": "0.10.0", "setuptools": "81.0.0"},
     {"tts021-no-builtin-speakers"}),  # setuptools 81 still has pkg_resources
    ({"coqui-tts": "0.24.1", "transformers": "4.33.0", "torch": "2.1.0", "torchaudio": "2.11.0"},
     {"torchaudio-undeclared-torch", "torch-torchaudio-cuda-mismatch", "torchaudio-torchcodec"}),
    ({**SPACY, "coqui-tts": "0.28.0",
      "transformers": "4.57.3", "torch": "2.15.0", "torchcodec": "0.8.1",
      "six": "1.17.0"}, {"coqui-torch-extras"}),
    ({"coqui-tts": "0.24.1", "coqui-tts-trainer": "0.4.0", "coqpit": "0.0.17",
      "coqpit-config": "0.2.5", "transformers": "4.40.2", "torch": "2.5.1",
      "torchaudio": "2.5.1"}, {"coqpit-fork-clash"}),
    ({**SPACY, "coqui-tts": "0.27.1",
      "transformers": "5.20.2", "torch": "2.8.0", "torchaudio": "2.8.0",
      "torchcodec": "0.8.1", "six": "1.17.0"}, {"isin-mps-friendly-removed",
                                                "coqui-stream-config",
                                                "coqui-attention-mask-dropped"}),
    # the fork's releases before 0.27 past the transformers that removed what they import
    ({"coqui-tts": "0.24.0", "transformers": "4.57.1", "torch": "2.5.1",
      "torchaudio": "2.5.1"}, {"coqui-beam-search-scorer"}),
    ({"coqui-tts": "0.24.3", "transformers": "4.49.0", "torch": "2.6.0",
      "torchaudio": "2.6.0"}, {"coqui-0243-logits-warper"}),
    ({"TTS": "0.21.3", "transformers": "4.35.2", "torch": "2.1.2", "torchaudio": "2.1.2",
      "librosa": "0.10.0", "setuptools": "80.9.0"}, {"tts021-no-builtin-speakers"}),
    ({**SPACY, "coqui-tts": "0.27.1",
      "transformers": "5.0.0", "torch": "2.8.0", "torchaudio": "2.8.0",
      "torchcodec": "0.8.1", "six": "1.17.0"}, {"coqui-stream-config"}),
    ({"coqui-tts": "0.24.2", "coqui-tts-trainer": "0.1.4", "transformers": "4.40.2",
      "torch": "2.5.1", "torchaudio": "2.5.1"}, set()),
    # spaCy left coqui-tts's requirements in 0.26.1; enable_text_splitting still imports it
    ({"coqui-tts": "0.28.0", "transformers": "4.57.3", "torch": "2.9.1", "torchaudio": "2.9.1",
      "torchcodec": "0.8.1", "six": "1.17.0"}, {"coqui-split-needs-spacy"}),
    ({"coqui-tts": "0.26.0", "spacy": "3.7.5", "click": "8.1.8", "transformers": "4.51.3",
      "torch": "2.6.0", "torchaudio": "2.6.0"}, set()),
    ({**SPACY, "coqui-tts": "0.28.0",
      "transformers": "5.24.0", "torch": "2.15.0", "torchaudio": "2.11.1",
      "six": "1.17.0"}, {"coqui-codec-extra", "cache-kwarg",
                         "torch-torchaudio-cuda-mismatch"}),
    ({**SPACY, "coqui-tts": "0.27.3",
      "transformers": "4.57.3", "torch": "2.15.0", "torchcodec": "0.8.1",
      "six": "1.17.0"}, set()),  # 0.27.3 still required torchaudio
    ({"TTS": "0.22.0", "transformers": "5.19.0", "torch": "2.5.1", "torchaudio": "2.5.1"},
     {"transformers5-needs-torch26", "beam-search-scorer", "generate-removed",
      "dropped-prefix", "stream-sampler", "logits-warper"}),
    # Kokoro's knowledge base, for Kokoro environments
    ({"kokoro": "0.9.4", "misaki": "0.9.4", "transformers": "5.24.0", "torch": "2.9.1",
      "numpy": "2.4.6"}, set()),
    ({"kokoro": "0.9.4", "misaki": "0.9.4", "transformers": "4.46.2", "torch": "2.1.2",
      "numpy": "2.4.6"}, {"kokoro-numpy2-old-torch"}),
    ({"kokoro": "0.7.16", "misaki": "0.9.4", "transformers": "4.46.2", "torch": "2.5.1",
      "numpy": "1.26.4"}, {"kokoro07-misaki-g2p-tuple", "kokoro07-decoder-numerics"}),
    # StyleTTS2's: the loader's bugs in every release, nltk's data and torch's default by
    # version
    ({"styletts2": "0.1.6", "torch": "2.5.1", "nltk": "3.8.1"},
     {"styletts2-f0-path-ignored", "styletts2-plbert-dir-str"}),
    ({"styletts2": "0.1.5", "torch": "2.5.1", "nltk": "3.8.1"},
     {"styletts2-f0-path-ignored", "styletts2-plbert-dir-str",
      "styletts2-015-ref-s-fetches-voice"}),
    ({"styletts2": "0.1.6", "torch": "2.1.2", "torchaudio": "2.11.0", "nltk": "3.8.1"},
     {"styletts2-f0-path-ignored", "styletts2-plbert-dir-str",
      "torchaudio-undeclared-torch"}),  # the stack's entry, for this engine too
    ({"styletts2": "0.1.6", "torch": "2.9.1", "nltk": "3.10.4"},
     {"styletts2-f0-path-ignored", "styletts2-plbert-dir-str", "styletts2-nltk-punkt-tab",
      "styletts2-weights-only-release-files"}),
])
def test_installed_versions_predict_the_breakages(versions, expected):
    engine = next((e for e in ("kokoro", "styletts2") if e in versions), "xtts")
    found = {e.id for e in diagnosis.load(engine)
             if e.affected({"python": "3.11.7", **versions})}
    # every finding doctor can predict is covered by one of these cases
    assert found == expected


@pytest.mark.parametrize(("text", "complaint"), [
    ("[[breakage]]\nid = 'x'\n", "missing"),
    ("[[breakage\n", "line 1"),
])
def test_a_malformed_knowledge_base_is_refused_by_name(text, complaint):
    with pytest.raises(diagnosis.KnowledgeBaseError, match=complaint) as info:
        diagnosis.parse(text, "kb.toml")
    assert "kb.toml" in str(info.value)


def test_a_bad_specifier_names_its_entry():
    entry = diagnosis.knowledge_bases()["xtts"].read_text().replace('transformers = ">=4.57"',
                                                         'transformers = "=>4.57"', 1)
    with pytest.raises(diagnosis.KnowledgeBaseError, match="beam-search-scorer"):
        diagnosis.parse(entry, "kb.toml")


def test_every_predictable_breakage_has_a_prediction_case():
    cases = test_installed_versions_predict_the_breakages.pytestmark[0].args[1]
    predicted = set().union(*(expected for _, expected in cases))
    assert predicted == {e.id for e in diagnosis.load() if e.affects}


@pytest.mark.parametrize(("versions", "absent_known", "could"), [
    ({"TTS": "0.22.0", "transformers": "4.57.1"}, False, True),
    ({"TTS": "0.22.0", "transformers": "4.35.2"}, False, False),  # a known version says no
    ({"transformers": "5.24.0"}, False, True),  # TTS unknown: it could be there
    ({"transformers": "5.24.0"}, True, False),  # resolved without TTS: known absent
    ({"TTS": None, "transformers": "5.24.0"}, False, True),  # a pin not given is unknown
])
def test_an_entry_could_hold_only_where_no_known_version_contradicts_it(
        versions, absent_known, could):
    beam = diagnosis.by_id("beam-search-scorer")  # TTS <= 0.22.0 with transformers >= 4.57
    assert beam.could_hold(versions, absent_known=absent_known) is could
