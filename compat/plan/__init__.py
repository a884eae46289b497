"""Every way a list of cells is made: matrix files, installed versions to a cell
(``stack``), requirement files and their bumps (``bumps``), the releases' index, and the
exploratory matrix generated from it."""
