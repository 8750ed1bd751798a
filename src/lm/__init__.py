"""N-gram language models: KenLM tools, building LMs from transcripts, the LibriSpeech LMs."""
