"""A stand-in for matplotlib on the ported scripts' path (matplotlib is no dependency of the
tests): ``pyplot.imshow`` checks the image it is given, ``pyplot.show`` displays nothing."""
