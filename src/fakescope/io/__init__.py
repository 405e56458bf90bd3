"""Reading inputs.

* :mod:`fakescope.io.decode` — bytes/files → :class:`~fakescope.types.Sample`, safely
  (:func:`~fakescope.io.decode.decode`, :func:`~fakescope.io.decode.load`,
  :class:`~fakescope.io.decode.DecodeLimits`, ``IMAGE_EXTENSIONS``).
* :mod:`fakescope.io.video` — video files → sampled RGB frames with their times and the container's
  metadata, with PyAV (the ``[video]`` extra, imported on the first video): :func:`~fakescope.io.video.load_video`,
  :class:`~fakescope.io.video.VideoReader` (streaming), :class:`~fakescope.io.video.VideoLimits`,
  :class:`~fakescope.io.video.Sampling`, ``VIDEO_EXTENSIONS``.
* :mod:`fakescope.io.metadata` — EXIF, XMP, text chunks and JPEG tables of an opened image.
* :mod:`fakescope.io.sources` — input discovery (files and folders → paths).

The functions are deliberately not re-exported here: ``fakescope.io.decode`` stays the
module (a re-exported ``decode`` function would shadow it), and importing
``fakescope.io.sources`` does not pull in the image libraries.  The public shortcuts are
``fakescope.decode``, ``fakescope.load`` and ``fakescope.DecodeLimits``.
"""
