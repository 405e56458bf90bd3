"""Reading inputs.

* :mod:`fakescope.io.decode` — bytes/files → :class:`~fakescope.types.Sample`, safely
  (:func:`~fakescope.io.decode.decode`, :func:`~fakescope.io.decode.load`,
  :class:`~fakescope.io.decode.DecodeLimits`, ``IMAGE_EXTENSIONS``).
* :mod:`fakescope.io.metadata` — EXIF, XMP, text chunks and JPEG tables of an opened image.
* :mod:`fakescope.io.sources` — input discovery (files and folders → paths).

The functions are deliberately not re-exported here: ``fakescope.io.decode`` stays the
module (a re-exported ``decode`` function would shadow it), and importing
``fakescope.io.sources`` does not pull in the image libraries.  The public shortcuts are
``fakescope.decode``, ``fakescope.load`` and ``fakescope.DecodeLimits``.
"""
