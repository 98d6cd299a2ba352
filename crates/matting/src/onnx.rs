//! Reads an ONNX file: the graph's nodes, their attributes and the weights, straight
//! from the protobuf wire format. Only the fields a convolutional network's inference
//! needs are read; everything else is skipped by its wire type, as protobuf readers do.
//!
//! Field numbers are those of onnx.proto (ModelProto, GraphProto, NodeProto,
//! AttributeProto, TensorProto, ValueInfoProto).

use std::collections::HashMap;

/// A tensor read from the file: its shape and numbers. Floating-point data becomes f32;
/// integer data (shapes, indices, axes) stays i64.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub dims: Vec<usize>,
    pub data: Data,
}

/// One attribute value of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Float(f32),
    Int(i64),
    Bytes(Vec<u8>),
    Tensor(Tensor),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
}

#[derive(Clone, Debug, Default)]
pub struct Node {
    pub name: String,
    pub op: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: HashMap<String, Attr>,
}

impl Node {
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.attrs.get(name) {
            Some(Attr::Int(i)) => Some(*i),
            _ => None,
        }
    }

    pub fn float(&self, name: &str) -> Option<f32> {
        match self.attrs.get(name) {
            Some(Attr::Float(f)) => Some(*f),
            _ => None,
        }
    }

    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.attrs.get(name) {
            Some(Attr::Ints(v)) => Some(v),
            _ => None,
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.attrs.get(name) {
            Some(Attr::Bytes(b)) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

/// The graph of a model file.
#[derive(Debug, Default)]
pub struct Graph {
    pub opset: i64,
    pub nodes: Vec<Node>,
    pub weights: HashMap<String, Tensor>,
    /// The graph's inputs that are not weights, and its outputs.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

pub type Result<T> = std::result::Result<T, String>;

/// Reads a whole model file's bytes.
pub fn parse(bytes: &[u8]) -> Result<Graph> {
    let mut graph = None;
    let mut opset = None;
    for field in Fields(bytes) {
        match field? {
            (7, Value::Bytes(b)) => graph = Some(parse_graph(b)?),
            (8, Value::Bytes(b)) => {
                let (mut domain, mut version) = (String::new(), 0);
                for f in Fields(b) {
                    match f? {
                        (1, Value::Bytes(s)) => domain = text(s)?,
                        (2, Value::Varint(v)) => version = v as i64,
                        _ => {}
                    }
                }
                if domain.is_empty() || domain == "ai.onnx" {
                    opset = Some(version);
                }
            }
            _ => {}
        }
    }
    let mut graph = graph.ok_or("no graph in the file (is it an ONNX model?)")?;
    graph.opset = opset.ok_or("the file names no ONNX operator set")?;
    let weights = &graph.weights;
    graph.inputs.retain(|i| !weights.contains_key(i));
    Ok(graph)
}

fn parse_graph(bytes: &[u8]) -> Result<Graph> {
    let mut g = Graph::default();
    for field in Fields(bytes) {
        match field? {
            (1, Value::Bytes(b)) => g.nodes.push(parse_node(b)?),
            (5, Value::Bytes(b)) => {
                let (name, t) = parse_tensor(b)?;
                g.weights.insert(name, t);
            }
            (11, Value::Bytes(b)) => g.inputs.push(value_info_name(b)?),
            (12, Value::Bytes(b)) => g.outputs.push(value_info_name(b)?),
            (15, Value::Bytes(_)) => return Err("sparse weights are not supported".into()),
            _ => {}
        }
    }
    Ok(g)
}

fn value_info_name(bytes: &[u8]) -> Result<String> {
    for f in Fields(bytes) {
        if let (1, Value::Bytes(s)) = f? {
            return text(s);
        }
    }
    Err("a graph input or output without a name".into())
}

fn parse_node(bytes: &[u8]) -> Result<Node> {
    let mut n = Node::default();
    let mut domain = String::new();
    for field in Fields(bytes) {
        match field? {
            (1, Value::Bytes(s)) => n.inputs.push(text(s)?),
            (2, Value::Bytes(s)) => n.outputs.push(text(s)?),
            (3, Value::Bytes(s)) => n.name = text(s)?,
            (4, Value::Bytes(s)) => n.op = text(s)?,
            (5, Value::Bytes(b)) => {
                let (name, a) = parse_attr(b)?;
                if let Some(a) = a {
                    n.attrs.insert(name, a);
                }
            }
            (7, Value::Bytes(s)) => domain = text(s)?,
            _ => {}
        }
    }
    if !domain.is_empty() && domain != "ai.onnx" {
        return Err(format!(
            "node {} is from the operator domain {domain}",
            n.name
        ));
    }
    Ok(n)
}

fn parse_attr(bytes: &[u8]) -> Result<(String, Option<Attr>)> {
    let mut name = String::new();
    let mut kind = 0;
    let (mut f, mut i, mut s, mut t) = (None, None, None, None);
    let (mut floats, mut ints) = (Vec::new(), Vec::new());
    for field in Fields(bytes) {
        match field? {
            (1, Value::Bytes(b)) => name = text(b)?,
            (20, Value::Varint(v)) => kind = v,
            (2, Value::Fixed32(v)) => f = Some(f32::from_bits(v)),
            (3, Value::Varint(v)) => i = Some(v as i64),
            (4, Value::Bytes(b)) => s = Some(b.to_vec()),
            (5, Value::Bytes(b)) => t = Some(parse_tensor(b)?.1),
            (7, Value::Fixed32(v)) => floats.push(f32::from_bits(v)),
            (7, Value::Bytes(b)) => floats.extend(packed_f32(b)?),
            (8, Value::Varint(v)) => ints.push(v as i64),
            (8, Value::Bytes(b)) => ints.extend(packed_varints(b)?),
            _ => {}
        }
    }
    // AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7.
    let attr = match kind {
        1 => f.map(Attr::Float),
        2 => i.map(Attr::Int),
        3 => s.map(Attr::Bytes),
        4 => t.map(Attr::Tensor),
        6 => Some(Attr::Floats(floats)),
        7 => Some(Attr::Ints(ints)),
        _ => None,
    };
    Ok((name, attr))
}

fn parse_tensor(bytes: &[u8]) -> Result<(String, Tensor)> {
    let mut name = String::new();
    let mut dims = Vec::new();
    let mut kind = 0;
    let mut raw: Option<&[u8]> = None;
    let (mut floats, mut ints, mut doubles) = (Vec::new(), Vec::new(), Vec::new());
    for field in Fields(bytes) {
        match field? {
            (1, Value::Varint(v)) => dims.push(v as i64),
            (1, Value::Bytes(b)) => dims.extend(packed_varints(b)?),
            (2, Value::Varint(v)) => kind = v,
            (4, Value::Fixed32(v)) => floats.push(f32::from_bits(v)),
            (4, Value::Bytes(b)) => floats.extend(packed_f32(b)?),
            // int32_data and int64_data (and the small integer types, kept in int32_data).
            (5 | 7, Value::Varint(v)) => ints.push(v as i64),
            (5 | 7, Value::Bytes(b)) => ints.extend(packed_varints(b)?),
            (8, Value::Bytes(b)) => name = text(b)?,
            (9, Value::Bytes(b)) => raw = Some(b),
            (10, Value::Fixed64(v)) => doubles.push(f64::from_bits(v)),
            (10, Value::Bytes(b)) => doubles.extend(
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap())),
            ),
            (14, Value::Varint(1)) => {
                return Err(format!("tensor {name} keeps its data in another file"));
            }
            _ => {}
        }
    }
    let dims = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("tensor {name} has a negative size")))
        .collect::<Result<Vec<_>>>()?;
    let count: usize = dims.iter().product();
    // DataType: FLOAT 1, UINT8 2, INT8 3, INT32 6, INT64 7, BOOL 9, DOUBLE 11.
    let data = match (kind, raw) {
        (1, Some(r)) => Data::F32(
            r.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        (1, None) => Data::F32(floats),
        (11, Some(r)) => Data::F32(
            r.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                .collect(),
        ),
        (11, None) => Data::F32(doubles.iter().map(|&d| d as f32).collect()),
        (7, Some(r)) => Data::I64(
            r.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        ),
        (6, Some(r)) => Data::I64(
            r.chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap())))
                .collect(),
        ),
        (2 | 9, Some(r)) => Data::I64(r.iter().map(|&b| i64::from(b)).collect()),
        (3, Some(r)) => Data::I64(r.iter().map(|&b| i64::from(b as i8)).collect()),
        (2 | 3 | 6 | 7 | 9, None) => Data::I64(ints),
        (k, _) => {
            return Err(format!(
                "tensor {name} has data type {k}, which is not supported"
            ))
        }
    };
    let len = match &data {
        Data::F32(v) => v.len(),
        Data::I64(v) => v.len(),
    };
    if len != count {
        return Err(format!(
            "tensor {name} has {len} numbers for its shape {dims:?}"
        ));
    }
    Ok((name, Tensor { dims, data }))
}

fn text(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a name that is not UTF-8".to_string())
}

fn packed_f32(b: &[u8]) -> Result<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return Err("a packed float list of a length not divisible by 4".into());
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect())
}

fn packed_varints(mut b: &[u8]) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        out.push(varint(&mut b)? as i64);
    }
    Ok(out)
}

/// One field's value, by wire type.
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The fields of one message, in order: (field number, value).
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        Some(self.field())
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Result<(u64, Value<'a>)> {
        let key = varint(&mut self.0)?;
        let value = match key & 7 {
            0 => Value::Varint(varint(&mut self.0)?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().unwrap())),
            2 => {
                let len = usize::try_from(varint(&mut self.0)?).map_err(|_| "too long")?;
                Value::Bytes(self.take(len)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().unwrap())),
            w => {
                return Err(format!(
                    "unknown protobuf wire type {w}: the file is damaged"
                ))
            }
        };
        Ok((key >> 3, value))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err("the file ends in the middle of a field: it is truncated".into());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
}

fn varint(b: &mut &[u8]) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b
            .split_first()
            .ok_or("the file ends in the middle of a number: it is truncated")?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("a number longer than ten bytes: the file is damaged".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(field: u64, wire: u64) -> Vec<u8> {
        enc(field << 3 | wire)
    }

    fn enc(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn bytes(field: u64, b: &[u8]) -> Vec<u8> {
        [key(field, 2), enc(b.len() as u64), b.to_vec()].concat()
    }

    #[test]
    fn reads_a_small_model_in_every_encoding_the_format_allows() {
        // A weight with raw data, one with packed float_data, and an int64 constant with
        // a negative value (ten-byte varint); a Conv node with ints and a float.
        let w1 = [
            bytes(8, b"w"),
            key(1, 0),
            enc(2),
            key(2, 0),
            enc(1),
            bytes(9, &[1.5f32.to_le_bytes(), (-2f32).to_le_bytes()].concat()),
        ]
        .concat();
        let w2 = [
            bytes(8, b"b"),
            bytes(1, &enc(1)),
            key(2, 0),
            enc(1),
            bytes(4, &0.25f32.to_le_bytes()),
        ]
        .concat();
        let shape = [
            bytes(8, b"s"),
            key(1, 0),
            enc(2),
            key(2, 0),
            enc(7),
            bytes(7, &[enc(3), enc(-1i64 as u64)].concat()),
        ]
        .concat();
        let pads = [
            bytes(1, b"pads"),
            key(20, 0),
            enc(7),
            bytes(8, &[enc(1), enc(1)].concat()),
        ]
        .concat();
        let alpha = [
            bytes(1, b"alpha"),
            key(20, 0),
            enc(1),
            key(2, 5),
            0.5f32.to_le_bytes().to_vec(),
        ]
        .concat();
        let node = [
            bytes(1, b"x"),
            bytes(1, b"w"),
            bytes(2, b"y"),
            bytes(3, b"conv0"),
            bytes(4, b"Conv"),
            bytes(5, &pads),
            bytes(5, &alpha),
        ]
        .concat();
        let graph = [
            bytes(1, &node),
            bytes(5, &w1),
            bytes(5, &w2),
            bytes(5, &shape),
            bytes(11, &bytes(1, b"x")),
            bytes(11, &bytes(1, b"w")),
            bytes(12, &bytes(1, b"y")),
            // An unknown field of each wire type is skipped.
            key(99, 0),
            enc(5),
            key(98, 1),
            vec![0; 8],
            key(97, 5),
            vec![0; 4],
        ]
        .concat();
        let opset = [key(2, 0), enc(11)].concat();
        let model = [key(1, 0), enc(7), bytes(8, &opset), bytes(7, &graph)].concat();
        let g = parse(&model).unwrap();
        assert_eq!(g.opset, 11);
        assert_eq!(g.inputs, ["x"]);
        assert_eq!(g.outputs, ["y"]);
        assert_eq!(g.weights["w"].dims, [2]);
        assert_eq!(g.weights["w"].data, Data::F32(vec![1.5, -2.0]));
        assert_eq!(g.weights["b"].data, Data::F32(vec![0.25]));
        assert_eq!(g.weights["s"].data, Data::I64(vec![3, -1]));
        let n = &g.nodes[0];
        assert_eq!((n.op.as_str(), n.name.as_str()), ("Conv", "conv0"));
        assert_eq!(n.inputs, ["x", "w"]);
        assert_eq!(n.ints("pads"), Some(&[1, 1][..]));
        assert_eq!(n.float("alpha"), Some(0.5));
        // A truncated file is an error, not a panic.
        for cut in [1, model.len() / 2, model.len() - 1] {
            assert!(parse(&model[..cut]).is_err(), "cut at {cut}");
        }
    }
}
