//! A tensor's dimensions. It sits below both the GPU layer and the error type, which names
//! shapes in its messages, so neither has to import the other.

use std::fmt;

/// Dimensions, outermost first.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }
    pub fn dims(&self) -> &[usize] {
        &self.0
    }
    /// Rows and columns of the tensor seen as a matrix: the last dimension is the columns.
    pub fn as_matrix(&self) -> (usize, usize) {
        match self.0.as_slice() {
            [] => (1, 1),
            [n] => (1, *n),
            [rest @ .., cols] => (rest.iter().product(), *cols),
        }
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(dims: [usize; N]) -> Shape {
        Shape(dims.to_vec())
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Shape {
        Shape(dims.to_vec())
    }
}
